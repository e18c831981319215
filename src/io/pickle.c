#include "io/pickle.h"

#include <stdlib.h>
#include <string.h>

#define MAX_STACK 100000
#define MAX_MEMO (1 << 22)

struct Pickle {
    void **allocs;
    size_t n_allocs, cap_allocs;
    PickleValue **stack;
    int sp, stack_cap;
    int *marks;
    int n_marks, marks_cap;
    PickleValue **memo;
    size_t memo_cap, memo_count;
};

static void *palloc(Pickle *p, size_t n) {
    void *m = xcalloc(1, n ? n : 1);
    if (p->n_allocs == p->cap_allocs) {
        p->cap_allocs = p->cap_allocs ? 2 * p->cap_allocs : 256;
        p->allocs = xrealloc(p->allocs, p->cap_allocs * sizeof *p->allocs);
    }
    p->allocs[p->n_allocs++] = m;
    return m;
}

static PickleValue *newv(Pickle *p, PickleKind k) {
    PickleValue *v = palloc(p, sizeof *v);
    v->kind = k;
    return v;
}

static char *pstrndup(Pickle *p, const uint8_t *s, size_t n) {
    char *c = palloc(p, n + 1);
    memcpy(c, s, n);
    return c;
}

static void push_item(Pickle *p, PickleValue *container, PickleValue *item) {
    if (container->count == container->cap) {
        int cap = container->cap ? 2 * container->cap : 4;
        PickleValue **n = palloc(p, (size_t)cap * sizeof *n);
        if (container->count) memcpy(n, container->items, (size_t)container->count * sizeof *n);
        container->items = n; /* the old array stays in the pool until pickle_free */
        container->cap = cap;
    }
    container->items[container->count++] = item;
}

void pickle_free(Pickle *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_allocs; i++) free(p->allocs[i]);
    free(p->allocs);
    free(p->stack);
    free(p->marks);
    free(p->memo);
    free(p);
}

typedef struct Reader {
    const uint8_t *buf;
    size_t size, pos;
    const char *label;
    Err *err;
} Reader;

static int need(Reader *r, size_t n) {
    if (n > r->size - r->pos)
        return err_set(r->err, "%s: pickle truncated at byte %zu (needs %zu more bytes)", r->label, r->pos, n);
    return 0;
}

static uint64_t rd_le(Reader *r, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | r->buf[r->pos + (size_t)i];
    r->pos += (size_t)n;
    return v;
}

static int push(Pickle *p, Reader *r, PickleValue *v) {
    if (p->sp >= MAX_STACK) return err_set(r->err, "%s: pickle stack overflow at byte %zu", r->label, r->pos);
    if (p->sp == p->stack_cap) {
        p->stack_cap = p->stack_cap ? 2 * p->stack_cap : 64;
        p->stack = xrealloc(p->stack, (size_t)p->stack_cap * sizeof *p->stack);
    }
    p->stack[p->sp++] = v;
    return 0;
}

static PickleValue *pop(Pickle *p, Reader *r) {
    int floor = p->n_marks ? p->marks[p->n_marks - 1] : 0;
    if (p->sp <= floor) {
        err_set(r->err, "%s: pickle stack underflow at byte %zu", r->label, r->pos);
        return NULL;
    }
    return p->stack[--p->sp];
}

/* Pops everything above the last MARK into a new container of kind k. */
static PickleValue *pop_mark(Pickle *p, Reader *r, PickleKind k) {
    if (!p->n_marks) {
        err_set(r->err, "%s: pickle has no MARK for the opcode at byte %zu", r->label, r->pos);
        return NULL;
    }
    int m = p->marks[--p->n_marks];
    PickleValue *c = newv(p, k);
    for (int i = m; i < p->sp; i++) push_item(p, c, p->stack[i]);
    p->sp = m;
    return c;
}

static int memo_put(Pickle *p, Reader *r, uint64_t idx) {
    if (idx >= MAX_MEMO)
        return err_set(r->err, "%s: pickle memo index %llu too large", r->label, (unsigned long long)idx);
    if (!p->sp) return err_set(r->err, "%s: PUT on an empty stack at byte %zu", r->label, r->pos);
    if (idx >= p->memo_cap) {
        size_t cap = p->memo_cap ? p->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        p->memo = xrealloc(p->memo, cap * sizeof *p->memo);
        memset(p->memo + p->memo_cap, 0, (cap - p->memo_cap) * sizeof *p->memo);
        p->memo_cap = cap;
    }
    p->memo[idx] = p->stack[p->sp - 1];
    if (idx + 1 > p->memo_count) p->memo_count = idx + 1;
    return 0;
}

static int memo_get(Pickle *p, Reader *r, uint64_t idx) {
    if (idx >= p->memo_cap || !p->memo[idx])
        return err_set(r->err, "%s: GET of unknown memo entry %llu at byte %zu", r->label, (unsigned long long)idx,
                       r->pos);
    return push(p, r, p->memo[idx]);
}

static int is_global(const PickleValue *v, const char *module, const char *name) {
    return v && v->kind == PK_GLOBAL && !strcmp(v->module, module) && !strcmp(v->name, name);
}

static int int_of(const PickleValue *v, int64_t *out) {
    if (!v || (v->kind != PK_INT && v->kind != PK_BOOL)) return -1;
    *out = v->i;
    return 0;
}

/* torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static PickleValue *rebuild_tensor(Pickle *p, Reader *r, const PickleValue *args) {
    if (!args || args->kind != PK_TUPLE || args->count < 4) {
        err_set(r->err, "%s: _rebuild_tensor_v2 with unexpected arguments near byte %zu", r->label, r->pos);
        return NULL;
    }
    const PickleValue *st = args->items[0], *size = args->items[2], *stride = args->items[3];
    PickleValue *t = newv(p, PK_TENSOR);
    /* storage: persistent id ('storage', <GLOBAL torch.XStorage>, key, location, numel) */
    const PickleValue *pid = st && st->kind == PK_PERSID ? st->payload : NULL;
    if (!pid || pid->kind != PK_TUPLE || pid->count < 3 || !pid->items[1] || pid->items[1]->kind != PK_GLOBAL ||
        !pid->items[2] || pid->items[2]->kind != PK_STR) {
        err_set(r->err, "%s: tensor storage reference is not ('storage', type, key, ...) near byte %zu", r->label,
                r->pos);
        return NULL;
    }
    t->tensor.storage_type = pid->items[1]->name;
    t->tensor.storage_key = pid->items[2]->s;
    if (int_of(args->items[1], &t->tensor.offset) != 0 || t->tensor.offset < 0 || !size || size->kind != PK_TUPLE ||
        !stride || stride->kind != PK_TUPLE || size->count != stride->count || size->count > 8) {
        err_set(r->err, "%s: tensor offset, size or stride malformed near byte %zu", r->label, r->pos);
        return NULL;
    }
    t->tensor.ndim = size->count;
    for (int i = 0; i < size->count; i++)
        if (int_of(size->items[i], &t->tensor.size[i]) != 0 || int_of(stride->items[i], &t->tensor.stride[i]) != 0 ||
            t->tensor.size[i] < 0 || t->tensor.stride[i] < 0) {
            err_set(r->err, "%s: tensor size or stride entry is not a non-negative integer near byte %zu", r->label,
                    r->pos);
            return NULL;
        }
    return t;
}

static PickleValue *apply(Pickle *p, Reader *r, PickleValue *callable, PickleValue *args) {
    if (is_global(callable, "torch._utils", "_rebuild_tensor_v2")) return rebuild_tensor(p, r, args);
    if (is_global(callable, "torch._utils", "_rebuild_parameter") ||
        is_global(callable, "torch._utils", "_rebuild_parameter_with_state")) {
        if (args && args->kind == PK_TUPLE && args->count >= 1 && args->items[0]) return args->items[0];
    }
    if (is_global(callable, "collections", "OrderedDict")) return newv(p, PK_DICT);
    PickleValue *o = newv(p, PK_OBJECT);
    o->callable = callable;
    o->payload = args;
    return o;
}

static int read_string(Pickle *p, Reader *r, size_t n, PickleKind k) {
    if (need(r, n)) return -1;
    PickleValue *v = newv(p, k);
    v->s = pstrndup(p, r->buf + r->pos, n);
    v->len = n;
    r->pos += n;
    return push(p, r, v);
}

static int read_line(Reader *r, const char **s, size_t *n) {
    size_t start = r->pos;
    while (r->pos < r->size && r->buf[r->pos] != '\n') r->pos++;
    if (r->pos >= r->size) return err_set(r->err, "%s: unterminated GLOBAL at byte %zu", r->label, start);
    *s = (const char *)r->buf + start;
    *n = r->pos - start;
    r->pos++;
    return 0;
}

int pickle_parse(const uint8_t *buf, size_t size, const char *label, Pickle **out, PickleValue **root, Err *err) {
    Pickle *p = xcalloc(1, sizeof *p);
    Reader r = {buf, size, 0, label, err};
    PickleValue *v, *a, *b;
    int rc = 0;
    for (;;) {
        if (need(&r, 1)) goto fail;
        uint8_t op = buf[r.pos++];
        switch (op) {
        case 0x80: /* PROTO */
            if (need(&r, 1)) goto fail;
            r.pos++;
            break;
        case 0x95: /* FRAME */
            if (need(&r, 8)) goto fail;
            r.pos += 8;
            break;
        case '.': /* STOP */
            if (p->sp != 1) {
                err_set(err, "%s: pickle ends with %d values on the stack", label, p->sp);
                goto fail;
            }
            *out = p;
            *root = p->stack[0];
            return 0;
        case 'c': { /* GLOBAL module\nname\n */
            const char *m = NULL, *n = NULL;
            size_t ml = 0, nl = 0;
            if (read_line(&r, &m, &ml) || read_line(&r, &n, &nl)) goto fail;
            v = newv(p, PK_GLOBAL);
            v->module = pstrndup(p, (const uint8_t *)m, ml);
            v->name = pstrndup(p, (const uint8_t *)n, nl);
            if (push(p, &r, v)) goto fail;
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if (!(b = pop(p, &r)) || !(a = pop(p, &r))) goto fail;
            if (a->kind != PK_STR || b->kind != PK_STR) {
                err_set(err, "%s: STACK_GLOBAL needs two strings at byte %zu", label, r.pos);
                goto fail;
            }
            v = newv(p, PK_GLOBAL);
            v->module = a->s;
            v->name = b->s;
            if (push(p, &r, v)) goto fail;
            break;
        case 'q': /* BINPUT */
            if (need(&r, 1) || memo_put(p, &r, rd_le(&r, 1))) goto fail;
            break;
        case 'r': /* LONG_BINPUT */
            if (need(&r, 4) || memo_put(p, &r, rd_le(&r, 4))) goto fail;
            break;
        case 0x94: /* MEMOIZE */
            if (memo_put(p, &r, p->memo_count)) goto fail;
            break;
        case 'h': /* BINGET */
            if (need(&r, 1) || memo_get(p, &r, rd_le(&r, 1))) goto fail;
            break;
        case 'j': /* LONG_BINGET */
            if (need(&r, 4) || memo_get(p, &r, rd_le(&r, 4))) goto fail;
            break;
        case '(': /* MARK */
            if (p->n_marks == p->marks_cap) {
                p->marks_cap = p->marks_cap ? 2 * p->marks_cap : 16;
                if (p->marks_cap > MAX_STACK) {
                    err_set(err, "%s: too many MARKs at byte %zu", label, r.pos);
                    goto fail;
                }
                p->marks = xrealloc(p->marks, (size_t)p->marks_cap * sizeof *p->marks);
            }
            p->marks[p->n_marks++] = p->sp;
            break;
        case ')': /* EMPTY_TUPLE */
            if (push(p, &r, newv(p, PK_TUPLE))) goto fail;
            break;
        case 't': /* TUPLE */
            if (!(v = pop_mark(p, &r, PK_TUPLE)) || push(p, &r, v)) goto fail;
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            int n = op - 0x84;
            v = newv(p, PK_TUPLE);
            PickleValue *it[3];
            for (int i = n - 1; i >= 0; i--)
                if (!(it[i] = pop(p, &r))) goto fail;
            for (int i = 0; i < n; i++) push_item(p, v, it[i]);
            if (push(p, &r, v)) goto fail;
            break;
        }
        case ']': /* EMPTY_LIST */
            if (push(p, &r, newv(p, PK_LIST))) goto fail;
            break;
        case 'l': /* LIST */
            if (!(v = pop_mark(p, &r, PK_LIST)) || push(p, &r, v)) goto fail;
            break;
        case 'a': /* APPEND */
            if (!(b = pop(p, &r)) || !(a = pop(p, &r))) goto fail;
            if (a->kind != PK_LIST) {
                err_set(err, "%s: APPEND to a non-list at byte %zu", label, r.pos);
                goto fail;
            }
            push_item(p, a, b);
            if (push(p, &r, a)) goto fail;
            break;
        case 'e': /* APPENDS */
            if (!(v = pop_mark(p, &r, PK_TUPLE)) || !(a = pop(p, &r))) goto fail;
            if (a->kind != PK_LIST) {
                err_set(err, "%s: APPENDS to a non-list at byte %zu", label, r.pos);
                goto fail;
            }
            for (int i = 0; i < v->count; i++) push_item(p, a, v->items[i]);
            if (push(p, &r, a)) goto fail;
            break;
        case '}': /* EMPTY_DICT */
            if (push(p, &r, newv(p, PK_DICT))) goto fail;
            break;
        case 's': /* SETITEM */
            if (!(b = pop(p, &r)) || !(a = pop(p, &r)) || !(v = pop(p, &r))) goto fail;
            if (v->kind != PK_DICT) {
                err_set(err, "%s: SETITEM on a non-dict at byte %zu", label, r.pos);
                goto fail;
            }
            push_item(p, v, a);
            push_item(p, v, b);
            if (push(p, &r, v)) goto fail;
            break;
        case 'u': /* SETITEMS */
            if (!(a = pop_mark(p, &r, PK_TUPLE)) || !(v = pop(p, &r))) goto fail;
            if (v->kind != PK_DICT || a->count % 2) {
                err_set(err, "%s: SETITEMS on a non-dict or with an odd count at byte %zu", label, r.pos);
                goto fail;
            }
            for (int i = 0; i < a->count; i++) push_item(p, v, a->items[i]);
            if (push(p, &r, v)) goto fail;
            break;
        case 'X': /* BINUNICODE */
            if (need(&r, 4) || read_string(p, &r, (size_t)rd_le(&r, 4), PK_STR)) goto fail;
            break;
        case 0x8c: /* SHORT_BINUNICODE */
            if (need(&r, 1) || read_string(p, &r, (size_t)rd_le(&r, 1), PK_STR)) goto fail;
            break;
        case 'C': /* SHORT_BINBYTES */
            if (need(&r, 1) || read_string(p, &r, (size_t)rd_le(&r, 1), PK_BYTES)) goto fail;
            break;
        case 'B': /* BINBYTES */
            if (need(&r, 4) || read_string(p, &r, (size_t)rd_le(&r, 4), PK_BYTES)) goto fail;
            break;
        case 'J': /* BININT */
            if (need(&r, 4)) goto fail;
            v = newv(p, PK_INT);
            v->i = (int32_t)(uint32_t)rd_le(&r, 4);
            if (push(p, &r, v)) goto fail;
            break;
        case 'K': /* BININT1 */
            if (need(&r, 1)) goto fail;
            v = newv(p, PK_INT);
            v->i = (int64_t)rd_le(&r, 1);
            if (push(p, &r, v)) goto fail;
            break;
        case 'M': /* BININT2 */
            if (need(&r, 2)) goto fail;
            v = newv(p, PK_INT);
            v->i = (int64_t)rd_le(&r, 2);
            if (push(p, &r, v)) goto fail;
            break;
        case 0x8a: { /* LONG1: little-endian two's complement of n bytes */
            if (need(&r, 1)) goto fail;
            size_t n = (size_t)rd_le(&r, 1);
            if (n > 8 || need(&r, n)) {
                if (n > 8) err_set(err, "%s: LONG1 of %zu bytes at byte %zu is too large", label, n, r.pos);
                goto fail;
            }
            uint64_t u = n ? rd_le(&r, (int)n) : 0;
            if (n && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~0ull << (8 * n);
            v = newv(p, PK_INT);
            v->i = (int64_t)u;
            if (push(p, &r, v)) goto fail;
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            if (need(&r, 8)) goto fail;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = (u << 8) | buf[r.pos++];
            v = newv(p, PK_FLOAT);
            memcpy(&v->f, &u, 8);
            if (push(p, &r, v)) goto fail;
            break;
        }
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            v = newv(p, PK_BOOL);
            v->i = op == 0x88;
            if (push(p, &r, v)) goto fail;
            break;
        case 'N':
            if (push(p, &r, newv(p, PK_NONE))) goto fail;
            break;
        case 'R': /* REDUCE */
        case 0x81: /* NEWOBJ */
            if (!(a = pop(p, &r)) || !(b = pop(p, &r))) goto fail;
            if (!(v = apply(p, &r, b, a)) || push(p, &r, v)) goto fail;
            break;
        case 'b': /* BUILD */
            if (!(a = pop(p, &r)) || !(v = pop(p, &r))) goto fail;
            if (v->kind == PK_OBJECT) v->state = a;
            if (push(p, &r, v)) goto fail;
            break;
        case 'Q': /* BINPERSID */
            if (!(a = pop(p, &r))) goto fail;
            v = newv(p, PK_PERSID);
            v->payload = a;
            if (push(p, &r, v)) goto fail;
            break;
        default:
            err_set(err, "%s: unsupported pickle opcode 0x%02x at byte %zu", label, op, r.pos - 1);
            goto fail;
        }
    }
fail:
    (void)rc;
    pickle_free(p);
    return -1;
}
