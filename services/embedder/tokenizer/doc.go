// Package tokenizer is a BERT WordPiece tokenizer that reproduces the
// Hugging Face tokenizers library token for token, as configured for
// sentence-transformers/all-MiniLM-L6-v2: BertNormalizer, BertPreTokenizer,
// WordPiece and a [CLS] … [SEP] template.
//
// The embedder feeds the ids to an ONNX model whose output must match the
// Python reference, so a single differing id is a bug. The package therefore
// copies HF's behaviour including its quirks rather than "fixing" them:
//
//   - Character classes (punctuation, control/format characters, nonspacing
//     marks) follow Unicode 8.0, the version of the unicode_categories crate
//     that HF uses; newer characters are none of these (see tables.go).
//   - Whitespace is Rust's char::is_whitespace (the White_Space property),
//     so U+2028, U+00A0 and U+3000 separate words, while U+0085, U+000B and
//     U+000C are control characters that clean_text deletes first.
//   - Accent stripping is canonical decomposition (NFD) followed by removal
//     of nonspacing marks, applied before lower-casing; compatibility
//     characters such as "ﬁ" or "²" are kept as they are.
//   - Lower-casing is Rust's char::to_lowercase, per character: "İ" becomes
//     "i̇" and a final "Σ" becomes "σ", never "ς".
//   - Special tokens ([CLS], [SEP], [MASK], …) written literally in the input
//     are recognised before normalisation, exactly as HF's added vocabulary
//     does, and become their ids.
//   - WordPiece turns a word longer than 100 characters (after
//     normalisation) or one it cannot cover into a single [UNK].
//
// A Tokenizer is immutable after loading and safe for concurrent use.
package tokenizer
