#!/usr/bin/env python
"""Convert a PCam-like data set between layouts: the official HDF5 pair ('h5'), the Kaggle layout ('kaggle':
train/<id>.tif + train_labels.csv) and an ImageFolder tree ('folder': split/label/id.png).

    python data_scripts/convert.py ../shared/data/pcam-h5 out/kaggle --layout kaggle
"""
from fastcore.script import call_parse
from sslxai.fetch import convert

@call_parse
def main(src:str, # the data set to read (any layout; detected)
         dest:str, # where to write
         layout:str='folder', # 'h5', 'kaggle' or 'folder'
         split:str=None, # split to read from a root with splits (and to name the output)
         limit:int=None, # convert only the first N items
         overwrite:bool=False, # write into a non-empty destination
        ):
    print(convert(src, dest, layout, split=split, limit=limit, overwrite=overwrite))
