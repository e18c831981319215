// NCCL for the emulated backend. Every emulated process has its own emulated GPU, so a
// communicator may have several ranks (one process each); they find each other through a
// folder named after the unique id (each rank leaves its MPI_COMM_WORLD rank there) and get an
// MPI communicator of exactly their ranks (MPI_Comm_create_group, collective over them only).
// The collectives check their buffers as the device would see them (inside live device
// allocations, of the element size the datatype says), copy them to the host and reduce or
// gather there with MPI: sums in F32 (F64 for F64; BF16 and F16 widened, summed and rounded
// once), averages as the sum times 1/n.
// A failed peer, on demand: with EMU_NCCL_ASYNC_ERROR_AT=N the Nth collective of this process (all-reduces
// and all-gathers of every communicator, counted from 1) is queued (ncclSuccess) but never runs: its
// stream hangs (cudaStreamQuery: cudaErrorNotReady; a synchronisation waits for ever, emu_stream_hang) and
// ncclCommGetAsyncError reports ncclRemoteError, as NCCL does when a peer process died or the network went,
// until ncclCommAbort ends the collective. Later collectives on that communicator fail at once.
#define EMU_FULL_RUNTIME 1
#include "emu_common.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mpi.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace {
struct FakeComm {
    int nranks, rank;
    MPI_Comm mpi;                              // MPI_COMM_NULL for one rank
    ncclResult_t async_error = ncclSuccess;    // what ncclCommGetAsyncError reports
    std::vector<cudaStream_t> hung_streams;    // of its collectives that never complete (EMU_NCCL_ASYNC_ERROR_AT)
};
size_t type_size(ncclDataType_t t) {
    switch (t) {
    case ncclInt8: case ncclUint8: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
    default: return 0;
    }
}
char g_last_error[256] = "";
ncclResult_t refuse(const char *msg) {
    snprintf(g_last_error, sizeof g_last_error, "%s", msg);
    return ncclInvalidUsage;
}
const char kIdPrefix[] = "dfer-emulated-nccl:";

// EMU_NCCL_ASYNC_ERROR_AT: the collective of this process that a failed peer stops (0: none).
long failing_collective() {
    static long at = -1;
    if (at < 0) {
        const char *e = getenv("EMU_NCCL_ASYNC_ERROR_AT");
        char *end = nullptr;
        at = e && *e ? strtol(e, &end, 10) : 0;
        if (e && *e && (*end || at < 1)) {
            fprintf(stderr, "FATAL (emulated NCCL): EMU_NCCL_ASYNC_ERROR_AT=%s is not a collective's number "
                            "(1, 2...)\n", e);
            abort();
        }
    }
    return at;
}

// Whether the collective being queued on c and `stream` is the one a failed peer stops: then it is left
// hanging with the communicator's asynchronous error set. A communicator already in error fails every
// later collective (*refused), as NCCL's does.
bool peer_failed(FakeComm *c, cudaStream_t stream, ncclResult_t *refused) {
    static long collectives;
    *refused = ncclSuccess;
    if (c->async_error != ncclSuccess) {
        *refused = c->async_error;
        return true;
    }
    if (++collectives != failing_collective()) return false;
    c->async_error = ncclRemoteError;
    c->hung_streams.push_back(stream);
    emu_stream_hang(stream);
    snprintf(g_last_error, sizeof g_last_error,
             "emulated: collective %ld of this process (EMU_NCCL_ASYNC_ERROR_AT) lost its peer rank", collectives);
    return true;
}

std::string rendezvous_dir(const ncclUniqueId &id) {
    const char *tmp = getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/dfer-emu-nccl-" + (id.internal + sizeof kIdPrefix - 1);
}

// The MPI communicator of the nranks processes that called with this id, in NCCL rank order.
int join(const ncclUniqueId &id, int nranks, int rank, MPI_Comm *out) {
    std::string dir = rendezvous_dir(id);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return -1;
    int world_rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    std::string mine = dir + "/" + std::to_string(rank), tmp = mine + ".tmp";
    FILE *f = fopen(tmp.c_str(), "w");
    if (!f) return -1;
    fprintf(f, "%d\n", world_rank);
    fclose(f);
    if (rename(tmp.c_str(), mine.c_str()) != 0) return -1;
    std::vector<int> world(nranks, -1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    for (int r = 0; r < nranks; r++) {
        std::string path = dir + "/" + std::to_string(r);
        for (;;) {
            FILE *g = fopen(path.c_str(), "r");
            if (g) {
                int ok = fscanf(g, "%d", &world[r]);
                fclose(g);
                if (ok == 1) break;
            }
            if (std::chrono::steady_clock::now() > deadline) return -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    MPI_Group world_group, group;
    MPI_Comm_group(MPI_COMM_WORLD, &world_group);
    MPI_Group_incl(world_group, nranks, world.data(), &group);
    unsigned tag = 5381;
    for (const char *c = id.internal; *c; c++) tag = tag * 33 + (unsigned char)*c;
    int rc = MPI_Comm_create_group(MPI_COMM_WORLD, group, (int)(tag & 0x7fff), out);
    MPI_Group_free(&group);
    MPI_Group_free(&world_group);
    if (rc != MPI_SUCCESS) return -1;
    MPI_Barrier(*out); // everyone has read the folder
    unlink(mine.c_str());
    MPI_Barrier(*out);
    if (rank == 0) rmdir(dir.c_str());
    return 0;
}

float widen(const uint16_t *p, size_t i, ncclDataType_t t) {
    if (t == ncclBfloat16) {
        uint32_t u = (uint32_t)p[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    return (float)((const __half *)p)[i];
}
void narrow(uint16_t *p, size_t i, ncclDataType_t t, float v) {
    if (t == ncclBfloat16) {
        __nv_bfloat16 b = __float2bfloat16_rn(v);
        memcpy(p + i, &b, 2);
    } else {
        __half h = __float2half_rn(v);
        memcpy(p + i, &h, 2);
    }
}
} // namespace

extern "C" {
ncclResult_t ncclGetVersion(int *v) {
    *v = 0; // "0.0.0": no NCCL library is loaded
    return ncclSuccess;
}
ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    static unsigned counter;
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "%s%d-%u-%llx", kIdPrefix, (int)getpid(), counter++,
             (unsigned long long)std::chrono::steady_clock::now().time_since_epoch().count());
    return ncclSuccess;
}
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    if (strncmp(id.internal, kIdPrefix, sizeof kIdPrefix - 1) != 0)
        return refuse("unique id not made by ncclGetUniqueId");
    if (nranks < 1 || rank < 0 || rank >= nranks) return refuse("rank outside the communicator");
    MPI_Comm mpi = MPI_COMM_NULL;
    if (nranks > 1 && join(id, nranks, rank, &mpi) != 0)
        return refuse("the emulated NCCL ranks did not meet within 120 s (rendezvous folder in $TMPDIR or /tmp)");
    *comm = (ncclComm_t)new FakeComm{nranks, rank, mpi, ncclSuccess, {}};
    return ncclSuccess;
}
ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    FakeComm *c = (FakeComm *)comm;
    if (c->mpi != MPI_COMM_NULL) MPI_Comm_free(&c->mpi);
    delete c;
    return ncclSuccess;
}
// Abandons the communicator without its peers (they may be gone): its hung collectives end. Its MPI
// communicator is left allocated: MPI_Comm_free may wait for peers that will never come.
ncclResult_t ncclCommAbort(ncclComm_t comm) {
    FakeComm *c = (FakeComm *)comm;
    if (!c) return ncclSuccess; // NCCL: aborting NULL is a no-op
    for (cudaStream_t s : c->hung_streams) emu_stream_release(s);
    delete c;
    return ncclSuccess;
}
ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *async_error) {
    FakeComm *c = (FakeComm *)comm;
    if (!c || !async_error) return refuse("ncclCommGetAsyncError: no communicator or no result pointer");
    *async_error = c->async_error;
    return ncclSuccess;
}
// NCCL's texts, so that messages read as they will on a GPU.
const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "invalid usage (emulated NCCL)";
    }
}
const char *ncclGetLastError(ncclComm_t) { return g_last_error; }

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t t, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream) {
    emu_stream_order(stream);
    size_t es = type_size(t);
    FakeComm *c = (FakeComm *)comm;
    if (!c || !es || (op != ncclSum && op != ncclAvg))
        return refuse("ncclAllReduce: bad communicator, datatype or operation");
    if (t != ncclFloat32 && t != ncclFloat64 && t != ncclBfloat16 && t != ncclFloat16)
        return refuse("ncclAllReduce: the emulation reduces floating-point data only");
    emu_check_device_range("ncclAllReduce send buffer", send, count * es);
    emu_check_device_range("ncclAllReduce receive buffer", recv, count * es);
    ncclResult_t refused;
    if (peer_failed(c, stream, &refused)) return refused;
    std::vector<char> host(count * es);
    emu_device_access(true);
    memcpy(host.data(), send, count * es);
    emu_device_access(false);
    if (c->nranks > 1) {
        if (t == ncclFloat64) {
            double *v = (double *)host.data();
            MPI_Allreduce(MPI_IN_PLACE, v, (int)count, MPI_DOUBLE, MPI_SUM, c->mpi);
            if (op == ncclAvg) for (size_t i = 0; i < count; i++) v[i] *= 1.0 / c->nranks;
        } else {
            std::vector<float> wide(count);
            for (size_t i = 0; i < count; i++)
                wide[i] = t == ncclFloat32 ? ((float *)host.data())[i] : widen((uint16_t *)host.data(), i, t);
            MPI_Allreduce(MPI_IN_PLACE, wide.data(), (int)count, MPI_FLOAT, MPI_SUM, c->mpi);
            for (size_t i = 0; i < count; i++) {
                float v = op == ncclAvg ? wide[i] * (1.0f / (float)c->nranks) : wide[i];
                if (t == ncclFloat32) ((float *)host.data())[i] = v;
                else narrow((uint16_t *)host.data(), i, t, v);
            }
        }
    }
    emu_device_access(true);
    memcpy(recv, host.data(), count * es);
    emu_device_access(false);
    return ncclSuccess;
}
ncclResult_t ncclAllGather(const void *send, void *recv, size_t count, ncclDataType_t t, ncclComm_t comm,
                           cudaStream_t stream) {
    emu_stream_order(stream);
    size_t es = type_size(t);
    FakeComm *c = (FakeComm *)comm;
    if (!c || !es) return refuse("ncclAllGather: bad communicator or datatype");
    emu_check_device_range("ncclAllGather send buffer", send, count * es);
    emu_check_device_range("ncclAllGather receive buffer", recv, count * es * (size_t)c->nranks);
    ncclResult_t refused;
    if (peer_failed(c, stream, &refused)) return refused;
    std::vector<char> mine(count * es), all(count * es * (size_t)c->nranks);
    emu_device_access(true);
    memcpy(mine.data(), send, count * es);
    emu_device_access(false);
    if (c->nranks > 1)
        MPI_Allgather(mine.data(), (int)(count * es), MPI_BYTE, all.data(), (int)(count * es), MPI_BYTE, c->mpi);
    else
        all = mine;
    emu_device_access(true);
    memcpy(recv, all.data(), all.size());
    emu_device_access(false);
    return ncclSuccess;
}
}
