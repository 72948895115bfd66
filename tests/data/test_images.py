"""The one image decoder (`zoo.data.images`) and the file source that trains on it, over the
odd but real files of shared/data/odd-images (beside the checkout) and files made here."""

import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import ODD_IMAGES
from zoo.data.images import UnreadableImage, open_image, read_image, to_channels
from zoo.data.sources import FileSource

ODD = ODD_IMAGES


def odd_table() -> dict[str, str]:
    """{file name: description} from the README's table."""
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \|$", (ODD / "README.md").read_text(), re.M)
    return dict(rows)


pytestmark = pytest.mark.skipif(not ODD.is_dir(), reason=f"{ODD} is not on this machine")

TABLE = odd_table() if ODD.is_dir() else {}
GOOD = sorted(name for name in TABLE if name.startswith("good"))
BAD = sorted(name for name in TABLE if name.startswith("bad"))
GRAY = {"good_gray.jpg", "good_16bit_gray.png", "good_gray_alpha.png"}
REASONS = {
    "bad_truncated.jpg": "truncated image data",
    "bad_truncated.png": "truncated image data",
    "bad_empty.jpg": "empty file",
    "bad_text.jpg": "not an image (text)",
    "bad_html.jpg": "not an image (HTML page)",
    "bad_header_only.png": "truncated or corrupt PNG data",
}


def test_the_table_lists_every_file():
    files = sorted(p.name for p in ODD.iterdir() if p.name != "README.md")
    assert sorted(TABLE) == files
    assert len(GOOD) == 14 and len(BAD) == 6 and set(BAD) == set(REASONS)


def reference(channels: int) -> np.ndarray:
    """The lossless original that every good file was made from."""
    from PIL import Image

    with Image.open(ODD / "good.bmp") as image:
        return np.asarray(image.convert("RGB" if channels == 3 else "L"), dtype=np.int16)


@pytest.mark.parametrize("name", GOOD)
def test_good_files_read_as_the_picture_they_hold(name):
    rgb = read_image(ODD / name)
    assert rgb.dtype == np.uint8 and rgb.shape == (48, 64, 3)
    assert rgb.std() > 40  # a photo, not a uniform or grey-padded block
    gray = read_image(ODD / name, channels=1)
    assert gray.dtype == np.uint8 and gray.shape == (48, 64, 1)
    # Same picture: a clipped 16-bit image (all white) or an inverted CMYK one is far off.
    assert np.abs(gray[..., 0] - reference(1)).mean() < 12
    if name in GRAY:
        assert (rgb == rgb[..., :1]).all()
        assert np.abs(rgb[..., 0].astype(int) - gray[..., 0]).max() <= 1
    else:
        assert np.abs(rgb - reference(3)).mean() < 8
        assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2]).mean() > 5  # colour kept


@pytest.mark.parametrize("name", BAD)
def test_broken_files_are_refused_with_the_reason(name):
    with pytest.raises(UnreadableImage) as info:
        read_image(ODD / name)
    assert str(info.value) == REASONS[name]
    with pytest.raises(UnreadableImage, match=re.escape(REASONS[name])):
        read_image(ODD / name, channels=1)


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableImage, match="cannot read the file"):
        read_image(tmp_path / "nowhere.jpg")


def test_the_format_comes_from_the_bytes_not_the_name(tmp_path):
    from PIL import Image

    picture = reference(3).astype(np.uint8)
    Image.fromarray(picture).save(tmp_path / "photo.jpg", format="PNG")
    Image.fromarray(picture).save(tmp_path / "real.png")
    jpeg = (ODD / "good_baseline.jpg").read_bytes()
    (tmp_path / "motion.jpg").write_bytes(jpeg + b"\x00ftypmp42" + bytes(range(256)) * 40)
    np.testing.assert_array_equal(read_image(tmp_path / "photo.jpg"), picture)
    np.testing.assert_array_equal(read_image(tmp_path / "motion.jpg"),
                                  read_image(ODD / "good_baseline.jpg"))


def test_16_bit_gray_is_scaled_by_its_high_byte(tmp_path):
    from PIL import Image

    high = np.tile(np.arange(256, dtype=np.uint16), (4, 1))
    low = (high * 7 % 256).astype(np.uint16)  # noise below the 8 bits that are kept
    Image.fromarray(high << 8 | low).save(tmp_path / "ramp16.png")
    Image.fromarray(high.astype(np.uint8)).save(tmp_path / "ramp8.png")
    assert open_image(tmp_path / "ramp16.png").mode == "I;16"
    expected = read_image(tmp_path / "ramp8.png", channels=1)
    np.testing.assert_array_equal(expected[..., 0], high)
    np.testing.assert_array_equal(read_image(tmp_path / "ramp16.png", channels=1), expected)
    np.testing.assert_array_equal(read_image(tmp_path / "ramp16.png"),
                                  np.repeat(expected, 3, axis=-1))


def test_to_channels_gives_rgb_or_gray():
    image = open_image(ODD / "good_cmyk.jpg")
    assert image.mode == "CMYK"
    assert to_channels(image, 3).mode == "RGB" and to_channels(image, 1).mode == "L"
    with pytest.raises(ValueError, match="channels=4"):
        to_channels(image, 4)


def test_a_file_source_loads_the_good_and_names_the_bad(tmp_path):
    paths, labels = [], []
    for i, name in enumerate(sorted(TABLE)):
        folder = tmp_path / ("first" if i % 2 else "second")
        folder.mkdir(exist_ok=True)
        shutil.copy(ODD / name, folder / name)
        paths.append(str(folder / name))
        labels.append(i % 2)
    source = FileSource(paths, labels, size=(24, 32), channels=3)
    images, ok = source.load(np.arange(len(paths)))
    good = np.array([Path(p).name.startswith("good") for p in paths])
    np.testing.assert_array_equal(ok, good)
    assert images.shape == (20, 24, 32, 3) and images.dtype == np.uint8
    assert (images[good].reshape(14, -1).std(axis=1) > 30).all()
    assert (images[~good] == 0).all()
    assert source.bad_files == {str(tmp_path / ("first" if i % 2 else "second") / name):
                                REASONS[name] for i, name in enumerate(sorted(TABLE))
                                if name in REASONS}
    gray = FileSource(paths, labels, size=(24, 32), channels=1)
    images, ok = gray.load(np.arange(len(paths)))
    assert images.shape == (20, 24, 32, 1) and (ok == good).all()


def chatty_files(folder: Path) -> list[Path]:
    """Files that make Pillow's libtiff print to fd 2 and Pillow warn, when decoded plainly."""
    from PIL import Image

    picture = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    Image.fromarray(picture).save(folder / "lzw.tif", compression="tiff_lzw")
    data = bytearray((folder / "lzw.tif").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4000] = b"\xff" * 4000
    (folder / "corrupt_lzw.tif").write_bytes(bytes(data))  # libtiff: "Using code not ..."
    lzw = (folder / "lzw.tif").read_bytes()  # its directory is at the end
    (folder / "truncated.tif").write_bytes(lzw[: len(lzw) // 2])  # "Corrupt EXIF data"
    return [folder / "corrupt_lzw.tif", folder / "truncated.tif"]


DECODE_ALL = """
import sys
from pathlib import Path
from zoo.data.images import UnreadableImage, read_image
readable = 0
for path in sys.argv[1:]:
    for channels in (3, 1):
        try:
            read_image(path, channels)
            readable += 1
        except UnreadableImage:
            pass
print(readable)
"""

PLAIN_PILLOW = """
import sys
from PIL import Image
for path in sys.argv[1:]:
    try:
        Image.open(path).load()
    except Exception:
        pass
"""


def test_decoding_writes_nothing_to_stderr(tmp_path):
    files = [str(ODD / name) for name in sorted(TABLE)] + list(map(str, chatty_files(tmp_path)))
    plain = subprocess.run([sys.executable, "-c", PLAIN_PILLOW, *files[-2:]],
                           capture_output=True, text=True, timeout=120)
    assert "Using code not yet in table" in plain.stderr  # the files are chatty
    assert "UserWarning: Corrupt EXIF data" in plain.stderr
    quiet = subprocess.run([sys.executable, "-c", DECODE_ALL, *files], capture_output=True,
                           text=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "28\n"  # the 14 good files, twice each
    assert quiet.stderr == ""


def test_silencing_from_many_threads_gives_stderr_back(tmp_path, capfd):
    chatty = chatty_files(tmp_path)[0]
    errors = []

    def work():
        for _ in range(10):
            try:
                read_image(chatty)
            except UnreadableImage as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("still here", file=sys.stderr, flush=True)
    captured = capfd.readouterr()
    assert captured.err == "still here\n"
    assert len(errors) == 40 and errors[0].startswith("corrupt image data")


def _photo(path, size=(1024, 768)):
    """A JPEG at quality 90 of smooth gradients and noise, compressing like a photo."""
    from PIL import Image

    width, height = size
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:height, 0:width]
    picture = np.stack([xx / 4 % 256, yy / 3 % 256, (xx + yy) / 7 % 256], -1)
    picture = np.clip(picture + rng.normal(0, 12, picture.shape), 0, 255).astype(np.uint8)
    Image.fromarray(picture).save(path, quality=90)
    return path


@pytest.mark.parametrize(("size", "decoded"), [((64, 64), (96, 128)), ((100, 60), (192, 256)),
                                               ((224, 224), (384, 512)), ((400, 400), (768, 1024))])
def test_a_large_jpeg_decodes_scaled_towards_the_size_it_is_wanted_at(tmp_path, size, decoded):
    """libjpeg's 1/2, 1/4, 1/8 scaling, never below the larger side asked for: 1024x768 at
    64x64 decodes at 128x96 (1/8), at 224x224 at 512x384 (1/2); 400 leaves it whole."""
    path = _photo(tmp_path / "photo.jpg")
    assert read_image(path, 3, size).shape == (*decoded, 3)
    assert read_image(path, 1, size).shape == (*decoded, 1)
    assert read_image(path).shape == (768, 1024, 3)


def test_a_scaled_decode_resizes_to_nearly_the_full_decode(tmp_path):
    """The DCT-domain scaling is an area average, as the resize after it: the model sees
    nearly the same pixels (mean difference under 1 level of 255 on this photo)."""
    from zoo.data.preprocessing import resize_and_crop

    path = _photo(tmp_path / "photo.jpg")
    for size in ((64, 64), (224, 224)):
        full = resize_and_crop(read_image(path), size).astype(int)
        scaled = resize_and_crop(read_image(path, 3, size), size).astype(int)
        assert full.shape == scaled.shape == (*size, 3)
        assert np.abs(full - scaled).mean() < 1.0
        assert 0 < np.abs(full - scaled).max() < 16  # not the same decode


def test_only_jpeg_is_scaled(tmp_path):
    from PIL import Image

    picture = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    Image.fromarray(picture).save(tmp_path / "big.png")
    assert read_image(tmp_path / "big.png", 3, (64, 64)).shape == (768, 1024, 3)
