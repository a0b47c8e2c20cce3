// shim.cpp implements shim.h over the FAISS 1.7.3 C++ API.
//
// Every extern "C" function runs its body inside guard(), which turns any
// C++ exception into an error message: an exception unwinding into cgo's C
// frames would abort the whole process.

#include "shim.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/DirectMap.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/utils/utils.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

using idx_t = faiss::Index::idx_t;

// Implemented in Go (io.go) with //export.
extern "C" int fsGoWrite(uintptr_t handle, char* p, size_t n);
extern "C" int64_t fsGoRead(uintptr_t handle, char* p, size_t n);

static_assert(sizeof(idx_t) == sizeof(int64_t), "FAISS ids must be 64-bit");

struct fs_index {
    int kind = 0;
    std::unique_ptr<faiss::Index> owner;
    // Typed views of owner; exactly one is non-null.
    faiss::IndexIDMap2* idmap = nullptr;
    faiss::IndexIVFFlat* ivf = nullptr;
};

struct fs_buffer {
    faiss::VectorIOWriter writer;
};

namespace {

char* copy_message(const char* msg) {
    size_t n = std::strlen(msg);
    char* s = static_cast<char*>(std::malloc(n + 1));
    if (s != nullptr) {
        std::memcpy(s, msg, n + 1);
    }
    return s;
}

template <typename F>
int guard(char** err, F&& body) {
    *err = nullptr;
    try {
        body();
        return 0;
    } catch (const std::exception& e) {
        *err = copy_message(e.what());
    } catch (...) {
        *err = copy_message("unknown C++ exception");
    }
    return -1;
}

[[noreturn]] void fail(const std::string& msg) {
    throw std::runtime_error(msg);
}

// TranslatedSelector applies a selector over external ids to the
// sequential internal ids of an IndexIDMap's sub-index. FAISS 1.7.3's
// IndexIDMap::search rejects any SearchParameters ("search params not
// supported for this index"), so filtered flat search calls the sub-index
// directly with this selector and maps the labels back itself, which is what
// later FAISS releases do inside IndexIDMap.
struct TranslatedSelector : faiss::IDSelector {
    const std::vector<idx_t>& id_map;
    const faiss::IDSelector& sel;

    TranslatedSelector(
            const std::vector<idx_t>& id_map,
            const faiss::IDSelector& sel)
            : id_map(id_map), sel(sel) {}

    bool is_member(idx_t i) const override {
        return sel.is_member(id_map[i]);
    }
};

std::unique_ptr<faiss::IDSelector> make_selector(
        int kind,
        const int64_t* ids,
        const uint8_t* bitmap,
        size_t n) {
    switch (kind) {
        case FS_SEL_NONE:
            return nullptr;
        case FS_SEL_BATCH:
            return std::make_unique<faiss::IDSelectorBatch>(n, ids);
        case FS_SEL_BITMAP:
            return std::make_unique<faiss::IDSelectorBitmap>(n, bitmap);
        default:
            fail("unknown selector kind " + std::to_string(kind));
    }
}

// adopt checks that a deserialized index has exactly the structure this
// binding creates and takes ownership of it. FAISS's reader checks little
// beyond short reads, so a flipped byte in a count or dimension can yield
// an index whose later use reads out of bounds; checking the invariants here
// turns most such corruption into an error at load time.
std::unique_ptr<fs_index> adopt(faiss::Index* raw) {
    std::unique_ptr<faiss::Index> idx(raw);
    if (!idx) {
        fail("read_index returned no index");
    }
    if (idx->d <= 0) {
        fail("corrupt index: dimension " + std::to_string(idx->d));
    }
    if (idx->ntotal < 0) {
        fail("corrupt index: ntotal " + std::to_string(idx->ntotal));
    }
    if (idx->metric_type != faiss::METRIC_INNER_PRODUCT) {
        fail("unsupported index: metric is not inner product");
    }
    auto ix = std::make_unique<fs_index>();
    const std::type_info& t = typeid(*idx);
    if (t == typeid(faiss::IndexIDMap2)) {
        auto* m = static_cast<faiss::IndexIDMap2*>(idx.get());
        if (m->index == nullptr || !m->own_fields ||
            typeid(*m->index) != typeid(faiss::IndexFlatIP)) {
            fail("unsupported index: IndexIDMap2 does not own an "
                 "IndexFlatIP");
        }
        auto* flat = static_cast<faiss::IndexFlatIP*>(m->index);
        size_t n = size_t(m->ntotal);
        if (flat->d != m->d || flat->ntotal != m->ntotal ||
            flat->metric_type != faiss::METRIC_INNER_PRODUCT ||
            flat->code_size != size_t(m->d) * sizeof(float) ||
            flat->codes.size() != n * flat->code_size ||
            m->id_map.size() != n) {
            fail("corrupt index: flat sizes are inconsistent");
        }
        for (idx_t id : m->id_map) {
            if (id < 0) {
                fail("corrupt index: negative id");
            }
        }
        if (m->rev_map.size() != n) {
            fail("corrupt index: duplicate ids");
        }
        if (!m->is_trained || !flat->is_trained) {
            fail("corrupt index: flat index marked untrained");
        }
        ix->kind = FS_KIND_FLAT;
        ix->idmap = m;
    } else if (t == typeid(faiss::IndexIVFFlat)) {
        auto* v = static_cast<faiss::IndexIVFFlat*>(idx.get());
        if (v->quantizer == nullptr || !v->own_fields ||
            typeid(*v->quantizer) != typeid(faiss::IndexFlatIP)) {
            fail("unsupported index: IndexIVFFlat does not own an "
                 "IndexFlatIP quantizer");
        }
        if (v->nlist == 0 || v->quantizer->d != v->d ||
            v->quantizer->metric_type != faiss::METRIC_INNER_PRODUCT ||
            v->code_size != size_t(v->d) * sizeof(float)) {
            fail("corrupt index: IVF parameters are inconsistent");
        }
        if (!v->quantizer->is_trained ||
            size_t(v->quantizer->ntotal) != (v->is_trained ? v->nlist : 0)) {
            fail("corrupt index: quantizer does not match training state");
        }
        if (!v->is_trained && v->ntotal != 0) {
            fail("corrupt index: untrained index holds vectors");
        }
        if (v->direct_map.type != faiss::DirectMap::NoMap) {
            fail("unsupported index: IVF has a direct map");
        }
        auto* lists = dynamic_cast<faiss::ArrayInvertedLists*>(v->invlists);
        if (lists == nullptr || !v->own_invlists ||
            typeid(*lists) != typeid(faiss::ArrayInvertedLists) ||
            lists->nlist != v->nlist || lists->code_size != v->code_size ||
            lists->ids.size() != v->nlist || lists->codes.size() != v->nlist) {
            fail("corrupt index: inverted lists are inconsistent");
        }
        size_t total = 0;
        for (size_t l = 0; l < v->nlist; l++) {
            if (lists->codes[l].size() != lists->ids[l].size() * v->code_size) {
                fail("corrupt index: inverted list sizes are inconsistent");
            }
            for (idx_t id : lists->ids[l]) {
                if (id < 0) {
                    fail("corrupt index: negative id");
                }
            }
            total += lists->ids[l].size();
        }
        if (total != size_t(v->ntotal)) {
            fail("corrupt index: inverted lists do not hold ntotal vectors");
        }
        // Search takes nprobe per request; keep the stored default sane in
        // case anything else ever reads it.
        v->nprobe = std::min<size_t>(std::max<size_t>(v->nprobe, 1), v->nlist);
        ix->kind = FS_KIND_IVF_FLAT;
        ix->ivf = v;
    } else {
        fail(std::string("unsupported index type ") + t.name());
    }
    ix->owner = std::move(idx);
    return ix;
}

// GoWriter hands FAISS's many small writes to Go in chunks of up to
// bufSize bytes; larger writes go straight through.
struct GoWriter : faiss::IOWriter {
    static constexpr size_t bufSize = 1 << 20;
    uintptr_t handle;
    std::vector<char> buf;
    size_t used = 0;

    explicit GoWriter(uintptr_t handle) : handle(handle), buf(bufSize) {
        name = "<go writer>";
    }

    void emit(const char* p, size_t n) {
        if (fsGoWrite(handle, const_cast<char*>(p), n) != 0) {
            fail("write failed");
        }
    }

    void flush() {
        if (used > 0) {
            emit(buf.data(), used);
            used = 0;
        }
    }

    size_t operator()(const void* ptr, size_t size, size_t nitems) override {
        size_t total = size * nitems;
        const char* p = static_cast<const char*>(ptr);
        if (total >= bufSize) {
            flush();
            emit(p, total);
            return nitems;
        }
        if (used + total > bufSize) {
            flush();
        }
        std::memcpy(buf.data() + used, p, total);
        used += total;
        return nitems;
    }
};

// GoReader serves FAISS's many small reads from chunks of up to bufSize
// bytes read from Go; larger reads go straight through.
struct GoReader : faiss::IOReader {
    static constexpr size_t bufSize = 1 << 20;
    uintptr_t handle;
    std::vector<char> buf;
    size_t pos = 0;
    size_t end = 0;
    bool eof = false;

    explicit GoReader(uintptr_t handle) : handle(handle), buf(bufSize) {
        name = "<go reader>";
    }

    // fetch reads up to n bytes into p; 0 means end of stream.
    size_t fetch(char* p, size_t n) {
        int64_t m = fsGoRead(handle, p, n);
        if (m < 0) {
            fail("read failed");
        }
        if (m == 0) {
            eof = true;
        }
        return size_t(m);
    }

    size_t operator()(void* ptr, size_t size, size_t nitems) override {
        if (size == 0 || nitems == 0) {
            return 0;
        }
        size_t want = size * nitems;
        char* dst = static_cast<char*>(ptr);
        size_t got = 0;
        while (got < want) {
            if (pos == end) {
                if (eof) {
                    break;
                }
                if (want - got >= bufSize) {
                    got += fetch(dst + got, want - got);
                    continue;
                }
                pos = 0;
                end = fetch(buf.data(), bufSize);
                continue;
            }
            size_t n = std::min(end - pos, want - got);
            std::memcpy(dst + got, buf.data() + pos, n);
            pos += n;
            got += n;
        }
        return got / size;
    }
};

// SpanReader reads from caller-owned memory, so deserializing does not copy
// the whole index into a std::vector first as faiss::VectorIOReader would.
struct SpanReader : faiss::IOReader {
    const uint8_t* data;
    size_t len;
    size_t pos = 0;

    SpanReader(const uint8_t* data, size_t len) : data(data), len(len) {
        name = "<memory>";
    }

    size_t operator()(void* ptr, size_t size, size_t nitems) override {
        if (size == 0 || pos >= len) {
            return 0;
        }
        size_t n = std::min(nitems, (len - pos) / size);
        if (n > 0) {
            std::memcpy(ptr, data + pos, n * size);
            pos += n * size;
        }
        return n;
    }
};

} // namespace

extern "C" {

int fs_new_flat_ip(int d, fs_index** out, char** err) {
    return guard(err, [&] {
        auto flat = std::make_unique<faiss::IndexFlatIP>(d);
        auto m = std::make_unique<faiss::IndexIDMap2>(flat.get());
        m->own_fields = true;
        flat.release();
        auto ix = std::make_unique<fs_index>();
        ix->kind = FS_KIND_FLAT;
        ix->idmap = m.get();
        ix->owner = std::move(m);
        *out = ix.release();
    });
}

int fs_new_ivfflat_ip(int d, size_t nlist, fs_index** out, char** err) {
    return guard(err, [&] {
        auto q = std::make_unique<faiss::IndexFlatIP>(d);
        auto v = std::make_unique<faiss::IndexIVFFlat>(
                q.get(), d, nlist, faiss::METRIC_INNER_PRODUCT);
        v->own_fields = true;
        q.release();
        // Spherical k-means keeps centroids on the unit sphere, matching
        // inner-product search over unit vectors.
        v->cp.spherical = true;
        auto ix = std::make_unique<fs_index>();
        ix->kind = FS_KIND_IVF_FLAT;
        ix->ivf = v.get();
        ix->owner = std::move(v);
        *out = ix.release();
    });
}

void fs_free(fs_index* ix) {
    // Destructors of these FAISS types do not throw.
    delete ix;
}

int fs_kind(const fs_index* ix) {
    return ix->kind;
}

int fs_dim(const fs_index* ix) {
    return ix->owner->d;
}

int64_t fs_ntotal(const fs_index* ix) {
    return ix->owner->ntotal;
}

int fs_is_trained(const fs_index* ix) {
    return ix->owner->is_trained ? 1 : 0;
}

size_t fs_nlist(const fs_index* ix) {
    return ix->ivf != nullptr ? ix->ivf->nlist : 0;
}

size_t fs_own_nprobe(const fs_index* ix) {
    return ix->ivf != nullptr ? ix->ivf->nprobe : 0;
}

int fs_train(fs_index* ix, int64_t n, const float* x, char** err) {
    return guard(err, [&] {
        if (ix->ivf != nullptr) {
            ix->ivf->train(n, x);
        }
    });
}

int fs_add(
        fs_index* ix,
        int64_t n,
        const float* x,
        const int64_t* ids,
        int64_t* dup,
        char** err) {
    bool duplicate = false;
    int rc = guard(err, [&] {
        if (ix->idmap != nullptr) {
            // IndexIDMap2 keeps a reverse map that a duplicate id would
            // silently corrupt, so duplicates are refused up front.
            const auto& rev = ix->idmap->rev_map;
            for (int64_t i = 0; i < n; i++) {
                if (rev.count(ids[i]) != 0) {
                    *dup = ids[i];
                    duplicate = true;
                    return;
                }
            }
            ix->idmap->add_with_ids(n, x, ids);
        } else {
            ix->ivf->add_with_ids(n, x, ids);
        }
    });
    return duplicate ? FS_DUPLICATE_ID : rc;
}

int fs_remove(
        fs_index* ix,
        int64_t n,
        const int64_t* ids,
        size_t* removed,
        char** err) {
    return guard(err, [&] {
        faiss::IDSelectorBatch sel(size_t(n), ids);
        *removed = ix->owner->remove_ids(sel);
    });
}

int fs_reset(fs_index* ix, char** err) {
    return guard(err, [&] {
        ix->owner->reset();
        if (ix->idmap != nullptr) {
            // IndexIDMap2 does not override reset in 1.7.3, so its reverse
            // map would keep the removed ids.
            ix->idmap->rev_map.clear();
        }
    });
}

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
        char** err) {
    return guard(err, [&] {
        std::unique_ptr<faiss::IDSelector> sel =
                make_selector(sel_kind, sel_ids, sel_bitmap, sel_n);
        if (ix->ivf != nullptr) {
            // Per-request parameters: the index's own nprobe is shared by
            // all concurrent searches and is never written here.
            faiss::SearchParametersIVF params;
            params.nprobe = std::min(std::max<size_t>(nprobe, 1), ix->ivf->nlist);
            params.max_codes = 0;
            params.sel = sel.get();
            ix->ivf->search(n, x, k, distances, labels, &params);
            return;
        }
        const faiss::IndexIDMap2* m = ix->idmap;
        if (!sel) {
            m->search(n, x, k, distances, labels);
            return;
        }
        TranslatedSelector translated(m->id_map, *sel);
        faiss::SearchParameters params;
        params.sel = &translated;
        m->index->search(n, x, k, distances, labels, &params);
        for (int64_t i = 0; i < n * k; i++) {
            if (labels[i] >= 0) {
                labels[i] = m->id_map[labels[i]];
            }
        }
    });
}

int fs_write(const fs_index* ix, uintptr_t handle, char** err) {
    return guard(err, [&] {
        GoWriter w(handle);
        faiss::write_index(ix->owner.get(), &w);
        w.flush();
    });
}

int fs_read(uintptr_t handle, fs_index** out, char** err) {
    return guard(err, [&] {
        GoReader r(handle);
        std::unique_ptr<fs_index> ix = adopt(faiss::read_index(&r));
        char c;
        if (r(&c, 1, 1) != 0) {
            fail("trailing data after index");
        }
        *out = ix.release();
    });
}

int fs_serialize(
        const fs_index* ix,
        fs_buffer** out,
        const uint8_t** data,
        size_t* len,
        char** err) {
    return guard(err, [&] {
        auto b = std::make_unique<fs_buffer>();
        faiss::write_index(ix->owner.get(), &b->writer);
        *data = b->writer.data.data();
        *len = b->writer.data.size();
        *out = b.release();
    });
}

void fs_buffer_free(fs_buffer* b) {
    delete b;
}

int fs_deserialize(
        const uint8_t* data,
        size_t len,
        fs_index** out,
        char** err) {
    return guard(err, [&] {
        SpanReader r(data, len);
        std::unique_ptr<fs_index> ix = adopt(faiss::read_index(&r));
        if (r.pos != r.len) {
            fail("trailing data after index");
        }
        *out = ix.release();
    });
}

void fs_version(int* major, int* minor, int* patch) {
    *major = FAISS_VERSION_MAJOR;
    *minor = FAISS_VERSION_MINOR;
    *patch = FAISS_VERSION_PATCH;
}

int fs_compile_options(char** out, char** err) {
    return guard(err, [&] {
        std::string s = faiss::get_compile_options();
        *out = copy_message(s.c_str());
        if (*out == nullptr) {
            throw std::bad_alloc();
        }
    });
}

} // extern "C"
