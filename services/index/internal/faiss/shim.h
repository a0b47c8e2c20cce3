// shim.h is the C interface of the project's FAISS binding. Debian's
// libfaiss-dev ships only the C++ library, so shim.cpp wraps the few C++
// calls the index service needs behind extern "C" functions that never let an
// exception escape.
//
// Conventions: every function that can fail returns 0 on success and -1 on
// failure. On failure *err receives a message allocated with malloc that the
// caller releases with free; it stays NULL when even that allocation failed.
// Ids are int64_t, which is faiss::Index::idx_t on every platform FAISS
// supports.

#ifndef ARXIVSEARCH_FAISS_SHIM_H
#define ARXIVSEARCH_FAISS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// fs_index owns one FAISS index and everything it points to.
typedef struct fs_index fs_index;

// fs_buffer owns the bytes of a serialized index.
typedef struct fs_buffer fs_buffer;

enum {
    FS_KIND_FLAT = 1,     // IndexIDMap2 over IndexFlatIP
    FS_KIND_IVF_FLAT = 2, // IndexIVFFlat, inner product, IndexFlatIP quantizer
};

enum { FS_DUPLICATE_ID = -2 };

enum {
    FS_SEL_NONE = 0,   // no filter
    FS_SEL_BATCH = 1,  // sel_ids[0..sel_n) is a list of ids
    FS_SEL_BITMAP = 2, // sel_bitmap[0..sel_n) bytes; id i allowed iff bit i%8
                       // of byte i/8 is set
};

int fs_new_flat_ip(int d, fs_index** out, char** err);
int fs_new_ivfflat_ip(int d, size_t nlist, fs_index** out, char** err);
void fs_free(fs_index* ix);

int fs_kind(const fs_index* ix);
int fs_dim(const fs_index* ix);
int64_t fs_ntotal(const fs_index* ix);
int fs_is_trained(const fs_index* ix);
size_t fs_nlist(const fs_index* ix);
// fs_own_nprobe is the nprobe stored in the index itself, which the binding
// never changes; tests use it to prove that per-request nprobe did not leak.
size_t fs_own_nprobe(const fs_index* ix);

int fs_train(fs_index* ix, int64_t n, const float* x, char** err);
// fs_add returns FS_DUPLICATE_ID, with *dup set and no error message, when
// a flat index already holds one of ids; nothing is added then.
int fs_add(
        fs_index* ix,
        int64_t n,
        const float* x,
        const int64_t* ids,
        int64_t* dup,
        char** err);
int fs_remove(
        fs_index* ix,
        int64_t n,
        const int64_t* ids,
        size_t* removed,
        char** err);
int fs_reset(fs_index* ix, char** err);

// fs_search runs n queries. nprobe is used by IVF indexes only and is clamped
// to [1, nlist]; it is passed per call and never stored in the index.
int fs_search(
        const fs_index* ix,
        int64_t n,
        const float* x,
        int64_t k,
        size_t nprobe,
        int sel_kind,
        const int64_t* sel_ids,
        const uint8_t* sel_bitmap,
        size_t sel_n,
        float* distances,
        int64_t* labels,
        char** err);

// fs_write streams the serialized index to the Go io.Writer behind handle
// (a runtime/cgo.Handle) in chunks of up to 1 MiB; fs_read builds an index
// from the Go io.Reader behind handle and fails unless the reader is at EOF
// afterwards. The callbacks are the Go functions fsGoWrite and fsGoRead.
int fs_write(const fs_index* ix, uintptr_t handle, char** err);
int fs_read(uintptr_t handle, fs_index** out, char** err);

int fs_serialize(
        const fs_index* ix,
        fs_buffer** out,
        const uint8_t** data,
        size_t* len,
        char** err);
void fs_buffer_free(fs_buffer* b);
int fs_deserialize(
        const uint8_t* data,
        size_t len,
        fs_index** out,
        char** err);

// fs_version reports the FAISS version of the headers the shim was built
// with; the library is linked statically, so it is also the running version.
void fs_version(int* major, int* minor, int* patch);

// fs_compile_options stores a malloc'd copy of faiss::get_compile_options().
int fs_compile_options(char** out, char** err);

#ifdef __cplusplus
}
#endif

#endif // ARXIVSEARCH_FAISS_SHIM_H
