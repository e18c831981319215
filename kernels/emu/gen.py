#!/usr/bin/env python3
# Rewrites the kernel sources of kernels/ into host C++ for the emulator: launches
# k<<<g, b, smem, s>>>(args) become emu_launch(g, b, smem, s).go(k, args), the
# dynamic and static __shared__ arrays become per-block buffers.
import os, re, sys
here = os.path.dirname(os.path.abspath(__file__))
src_dir = os.path.dirname(here)
out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
for name in ['attention', 'layernorm', 'elementwise', 'reduce', 'rows', 'loss_optim', 'gemm']:
    s = open(os.path.join(src_dir, name + '.cu')).read()
    s = s.replace('#include "cuda_common.cuh"', '#include "emu_common.h"')
    s = re.sub(r'([A-Za-z_]\w*(?:<[^<>;]*>)?)<<<(.*?)>>>\(', lambda m: f'emu_launch({m.group(2)}).go({m.group(1)}, ', s,
               flags=re.S)
    s = s.replace('extern __shared__ float smem[];', 'float *smem = (float *)emu_dyn_smem();')
    s = re.sub(r'__shared__ (\w+) (\w+)\[(\w+)\];', r'\1 *\2 = (\1 *)emu_static_smem(sizeof(\1) * (\3));', s)
    open(os.path.join(out_dir, name + '.cpp'), 'w').write(s)
