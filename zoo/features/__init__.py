"""Transfer learning and the classic baselines: feature extractors (a CNN layer, raw pixels,
colour histograms, HOG, LBP, Hu moments), the HDF5 file that holds their features, and the
scikit-learn classifiers fitted on them."""
