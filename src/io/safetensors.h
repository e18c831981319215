/* safetensors (Hugging Face): 8-byte little-endian header length N, N bytes of
 * JSON, then the tensor bytes. Reading validates everything the format
 * promises (clip.md §4): header bound, JSON object, known dtypes, sizes that
 * match shapes, offsets sorted, contiguous from 0 without gaps or overlaps,
 * covering the whole buffer. Writing pads the header to 8 bytes, orders
 * tensors by descending dtype size then name, and is atomic. Every file dfer
 * writes carries the digest of its data section in its metadata
 * (SAFETENSORS_DIGEST_KEY, io/digest.h); reading a file that has one checks
 * it, and a file whose bytes changed since is refused as damaged. */
#ifndef DFER_IO_SAFETENSORS_H
#define DFER_IO_SAFETENSORS_H

#include "io/tensormap.h"

#define SAFETENSORS_DIGEST_KEY "dfer_payload_murmur3"

/* Parses a whole file image held in memory; entries reference buf (which must
 * outlive the map); the header's __metadata__ goes to out->metadata. Errors
 * name the source as "(memory)"; safetensors_parse_named takes the label. */
int safetensors_parse(const uint8_t *buf, size_t size, TensorMap *out, Err *err);
int safetensors_parse_named(const uint8_t *buf, size_t size, const char *label, TensorMap *out, Err *err);
/* mmaps and parses a file; the map keeps the mapping. */
int safetensors_read(const char *path, TensorMap *out, Err *err);
/* The same, telling a file that was read but is not whole (*damaged = 1: its digest, its structure, cut short) from
 * one that could not be opened or mapped (0). */
int safetensors_read_or_damaged(const char *path, TensorMap *out, int *damaged, Err *err);
/* A file read back from the disk (fs_disk_open: not from the page cache where the system allows, not mapped; its
 * data section in pieces of 8 MiB, so that a checkpoint of several GiB needs no second copy in memory) and checked
 * as a read checks it (structure, digest), for a file dfer wrote and reads back later to trust it:
 * 0 when whole; -1 with *damaged = 1 when not (its digest, its structure, a read error of the disk), 0 when it could
 * not be judged (open, memory). */
int safetensors_verify(const char *path, int *damaged, Err *err);
/* Reads the shards listed by a model.safetensors.index.json ({"weight_map":
 * {name: shard file}}, shard paths relative to the index); every listed tensor
 * must be in its shard. The map keeps the shards' mappings (no copies). */
int safetensors_read_index(const char *index_path, TensorMap *out, Err *err);
/* Whether this thread's reads check the digest (1, the default) and the previous setting: a caller that needs a
 * file's header only (the memory planner's shapes) turns it off around its read, which then touches no tensor
 * bytes (the mapping pages in nothing; hashing would read every byte, ~0.5 s a GB, on each plan). Everything else
 * of the format is checked as ever. */
int safetensors_check_digests(int on);
/* metadata: NULL or a NULL-terminated list of key, value, key, value, ...
 * (m->metadata is not written: pass what the new file should say); the digest
 * key is added (one given is replaced). */
int safetensors_write(const char *path, const TensorMap *m, const char *const *metadata, Err *err);
/* Fills n bytes of m->items[index]'s values, from byte `offset` of them, into dst; 0, or -1 with err set. */
typedef int (*SafetensorsFill)(void *ctx, int index, size_t offset, void *dst, size_t n, Err *err);
/* The same, where a tensor of m without data (tmap_add's NULL: its name, dtype and shape) comes from fill, in
 * pieces of at most 16 MiB, so that what lives elsewhere (a GPU's parameters and optimiser state) is written without
 * a host copy of the whole; the file is the same bytes as safetensors_write's of those values. */
int safetensors_write_from(const char *path, const TensorMap *m, const char *const *metadata, SafetensorsFill fill,
                           void *ctx, Err *err);
/* The __metadata__ value for key from a parsed file's header, or NULL
 * (the same as tmap_metadata). */
const char *safetensors_metadata(const TensorMap *m, const char *key);

#endif
