#!/usr/bin/env python
"""Download the official PCam HDF5 files from Zenodo (record 2546921), check their published MD5 sums, resume
interrupted downloads, and gunzip them. Needs internet; never run by the tests (they exercise the same code offline).

    python data_scripts/pcam_download.py --dest data/pcam --splits valid test
"""
from fastcore.script import call_parse
from sslxai.fetch import fetch_pcam

@call_parse
def main(dest:str='data/pcam', # folder for the HDF5 files
         splits:str='train valid test', # space-separated splits to fetch
         no_meta:bool=False, # skip the *_meta.csv slide metadata
        ):
    for p in fetch_pcam(dest, splits=tuple(splits.split()), meta=not no_meta): print(p)
