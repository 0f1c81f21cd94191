#!/usr/bin/env python
"""Speed of the synthetic PCam generator against reading real patches in each layout (same run, same machine).
Prints a table and saves benchmarks/results/synth.{json,md}. Real layouts are read from $SSLXAI_DATA."""
import json, os, platform, time, datetime
from pathlib import Path
import numpy as np, torch
from sslxai.data import synth_pcam, open_source
from sslxai.core import data_path

def rate(f, n, reps=3):
    best = min((lambda t0: (f(), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(reps))
    return n / best

def main(n=2000):
    res = {'date': datetime.date.today().isoformat(), 'machine': platform.platform(), 'cpus': os.cpu_count(),
           'torch_threads': torch.get_num_threads(), 'load': os.getloadavg()[0], 'rates': {}}
    synth_pcam(64, seed=1)                                           # warm caches (texture banks)
    res['rates']['synth_pcam'] = rate(lambda: synth_pcam(n, seed=0), n)
    for name, parts in (('hdf5', ('pcam-h5',)), ('imagefolder_jpeg', ('pcam-subset', 'valid')),
                        ('kaggle_tif', ('kaggle-hcd-sample',))):
        src = open_source(data_path(*parts)); m = min(n, len(src))
        res['rates'][name] = rate(lambda: src.get_batch(np.arange(m)), m)
    md = [f"# synth_bench ({res['date']}, {res['machine']}, {res['cpus']} CPUs, load {res['load']:.1f})", '',
          '| what | patches/s |', '|---|---|'] + [f'| {k} | {v:,.0f} |' for k, v in res['rates'].items()]
    print('\n'.join(md))
    out = Path(__file__).parent/'results'; out.mkdir(exist_ok=True)
    (out/'synth.json').write_text(json.dumps(res, indent=1)); (out/'synth.md').write_text('\n'.join(md) + '\n')

if __name__ == '__main__': main()
