#!/usr/bin/env python
"""Speed of the synthetic PCam generator against reading real patches in each layout (same run, same machine), and the
throughput of `pcam_dls` batches (uint8 read + float conversion + pathology augmentation + normalisation).
Prints a table and saves benchmarks/results/synth.{json,md}. Real layouts are read from $SSLXAI_DATA.

Rates are given in wall-clock patches/s (best of 3) and, because the course machines are shared, also per second of
this process's CPU time (`cpu_rates`), which depends much less on what else runs on the cores."""
import json, os, platform, time, datetime
from pathlib import Path
import numpy as np, torch
from sslxai.data import synth_pcam, open_source, pcam_dls, SynthSource
from sslxai.core import data_path

def rate(f, n, reps=3):
    "Best-of-`reps` patches/s, wall clock and process CPU time."
    walls, cpus = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time(); f()
        walls.append(time.perf_counter() - w); cpus.append(time.process_time() - c)
    return n/min(walls), n/min(cpus)

def main(n=2000):
    res = {'date': datetime.date.today().isoformat(), 'machine': platform.platform(), 'processor': platform.processor(),
           'cpus': os.cpu_count(), 'torch_threads': torch.get_num_threads(), 'load': os.getloadavg()[0],
           'rates': {}, 'cpu_rates': {}}
    def put(name, r): res['rates'][name], res['cpu_rates'][name] = r
    synth_pcam(64, seed=1)                                           # warm caches (template and texture banks)
    put('synth_pcam', rate(lambda: synth_pcam(n, seed=0), n))
    put('synth_pcam difficulty=1', rate(lambda: synth_pcam(n, seed=0, difficulty=1.0), n))
    for name, parts in (('hdf5 (sequential)', ('pcam-h5',)), ('imagefolder_jpeg', ('pcam-subset', 'valid')),
                        ('kaggle_tif', ('kaggle-hcd-sample',))):
        src = open_source(data_path(*parts)); m = min(n, len(src))
        put(name, rate(lambda: src.get_batch(np.arange(m)), m))
    h5 = open_source(data_path('pcam-h5'))                           # shuffled batches of 64, as a training loader reads
    perm = np.random.default_rng(0).permutation(len(h5))
    put('hdf5 (random batches of 64)', rate(lambda: [h5.get_batch(perm[i:i+64]) for i in range(0, len(h5), 64)], len(h5)))
    for name, src in (('pcam_dls train batches, synthetic', SynthSource(1024, seed=0)),
                      ('pcam_dls train batches, jpeg', open_source(data_path('pcam-subset'), split='valid'))):
        dls = pcam_dls(src, bs=64, n=1024, valid_pct=0.0625, device='cpu', stats=([0.7, 0.54, 0.69], [0.24, 0.28, 0.23]))
        k = len(dls.train)*64
        put(name, rate(lambda: [b for b in dls.train], k))
    md = [f"# synth_bench ({res['date']}, {res['machine']}, {res['cpus']} CPUs, torch threads {res['torch_threads']}, "
          f"load average {res['load']:.1f}, no GPU)", '',
          '| what | patches/s (wall) | patches per CPU-second |', '|---|---|---|'] + \
         [f"| {k} | {v:,.0f} | {res['cpu_rates'][k]:,.0f} |" for k, v in res['rates'].items()]
    print('\n'.join(md))
    out = Path(__file__).parent/'results'; out.mkdir(exist_ok=True)
    (out/'synth.json').write_text(json.dumps(res, indent=1)); (out/'synth.md').write_text('\n'.join(md) + '\n')

if __name__ == '__main__': main()
