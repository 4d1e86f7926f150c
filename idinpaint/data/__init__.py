"""Datasets: a registry of where each lives and how it is laid out, and LFW's View-2 pairs."""
from idinpaint.data.lfw import Pair, PairsFormatError, pair_arrays, pair_images, parse_pairs, people_by_fold
from idinpaint.data.registry import DATASETS, DatasetError, DatasetSpec, dataset_root, get_spec, list_images

__all__ = ["DATASETS", "DatasetError", "DatasetSpec", "Pair", "PairsFormatError", "dataset_root", "get_spec",
           "list_images", "pair_arrays", "pair_images", "parse_pairs", "people_by_fold"]
