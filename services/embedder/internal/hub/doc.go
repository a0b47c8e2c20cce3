// Package hub downloads a sentence-transformers model, as exported to ONNX,
// from the Hugging Face hub into a local cache, so that the embedder can be
// pointed at a repository id such as sentence-transformers/all-MiniLM-L6-v2
// instead of a hand-assembled directory.
//
// It speaks the same public HTTP API as the huggingface_hub Python library:
//
//	GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true
//	    the commit a branch, tag or commit resolves to, and the file listing
//	    with sizes and, for LFS files, sha256 digests;
//	GET {endpoint}/{repo}/resolve/{commit}/{file}
//	    a file's content, often through a redirect to a CDN.
//
// Files are fetched by commit, not by branch, so that a branch moving during
// a download cannot mix two versions of a model. Only the files the embedder
// runs from are fetched (see selectFiles): the ONNX model and its external
// data, the tokenizer and the sentence-transformers configuration, never the
// PyTorch or TensorFlow weights.
//
// The cache mirrors huggingface_hub's, minus its blob deduplication:
//
//	{cache}/{org}--{name}/{commit}/...     one snapshot per commit
//	{cache}/{org}--{name}/refs/{revision}  the commit a revision last resolved to
//
// A snapshot directory appears only by renaming a fully downloaded and
// verified temporary directory into place, so its existence means it is
// complete; an ONNX variant added to an existing snapshot later is renamed in
// file by file, its external data before the model. The refs files let an
// offline start (HF_HUB_OFFLINE=1) resolve "main" without the network, and
// an online start fall back to the cache when the hub cannot be reached.
package hub
