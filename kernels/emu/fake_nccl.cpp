// NCCL for the emulated backend: communicators of one rank (an emulated process has one
// emulated GPU; NCCL itself refuses two ranks on one GPU). The collectives check their buffers
// as the device would see them (inside live device allocations, of the element size the
// datatype says) and then do what one rank's all-reduce and all-gather do: copy when out of
// place, nothing in place.
#define EMU_FULL_RUNTIME 1
#include "emu_common.h"

#include <cstdio>
#include <cstdlib>

void emu_check_device_range(const char *what, const void *p, size_t bytes);

namespace {
struct FakeComm {
    int nranks;
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
} // namespace

extern "C" {
ncclResult_t ncclGetVersion(int *v) {
    *v = 0; // "0.0.0": no NCCL library is loaded
    return ncclSuccess;
}
ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "dfer-emulated-nccl");
    return ncclSuccess;
}
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    if (strcmp(id.internal, "dfer-emulated-nccl") != 0) return refuse("unique id not made by ncclGetUniqueId");
    if (nranks != 1 || rank != 0)
        return refuse("the CUDA emulator has one GPU per process: NCCL communicators of one rank only");
    *comm = (ncclComm_t)new FakeComm{nranks};
    return ncclSuccess;
}
ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    delete (FakeComm *)comm;
    return ncclSuccess;
}
const char *ncclGetErrorString(ncclResult_t r) { return r == ncclSuccess ? "no error" : "invalid usage (emulated NCCL)"; }
const char *ncclGetLastError(ncclComm_t) { return g_last_error; }

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t t, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t) {
    size_t es = type_size(t);
    if (!comm || !es || (op != ncclSum && op != ncclAvg && op != ncclMax && op != ncclMin && op != ncclProd))
        return refuse("ncclAllReduce: bad communicator, datatype or operation");
    emu_check_device_range("ncclAllReduce send buffer", send, count * es);
    emu_check_device_range("ncclAllReduce receive buffer", recv, count * es);
    emu_device_access(true);
    if (send != recv) memmove(recv, send, count * es);
    emu_device_access(false);
    return ncclSuccess;
}
ncclResult_t ncclAllGather(const void *send, void *recv, size_t count, ncclDataType_t t, ncclComm_t comm, cudaStream_t) {
    size_t es = type_size(t);
    if (!comm || !es) return refuse("ncclAllGather: bad communicator or datatype");
    int n = ((FakeComm *)comm)->nranks;
    emu_check_device_range("ncclAllGather send buffer", send, count * es);
    emu_check_device_range("ncclAllGather receive buffer", recv, count * es * (size_t)n);
    emu_device_access(true);
    if (send != recv) memmove(recv, send, count * es);
    emu_device_access(false);
    return ncclSuccess;
}
}
