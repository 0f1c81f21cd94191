#!/usr/bin/env python
"""Report whether a split is slide-disjoint, from PCam's *_meta.csv files (Kaggle data has no slide metadata).

    python data_scripts/split_report.py data/pcam
"""
import json
from pathlib import Path
from fastcore.script import call_parse
from sslxai.fetch import split_report

@call_parse
def main(folder:str, # folder holding camelyonpatch_level_2_split_*_meta.csv
        ):
    meta = {p.name.split('_split_')[1].split('_')[0]: p for p in sorted(Path(folder).glob('*_split_*_meta.csv'))}
    print(json.dumps(split_report(meta), indent=1))
