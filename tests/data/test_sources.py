"""Where images come from (`zoo.data.sources`): a file is an image by its name's suffix, and an
array source gives grayscale images their channel axis. The file and HDF5 sources are tested
with the decoder (test_images.py) and the HDF5 dataset (test_hdf5.py)."""

from pathlib import Path

import numpy as np

from zoo.data.sources import ArraySource, is_image_name


def test_an_image_name_is_judged_by_its_suffix_in_any_case():
    assert is_image_name("a/b.JPG") and is_image_name("x.webp") and is_image_name(Path("y.Tiff"))
    assert not is_image_name("notes.txt") and not is_image_name("README")
    assert not is_image_name("photo.jpg.bak")


def test_an_array_source_gives_grayscale_a_channel_axis():
    source = ArraySource(np.arange(60, dtype=np.uint8).reshape(3, 4, 5), [0, 1, 0])
    assert source.image_shape == (4, 5, 1) and len(source) == 3
    images, ok = source.load(np.array([2, 0]))
    assert images.shape == (2, 4, 5, 1) and ok.all() and images[1, 0, 0, 0] == 0
