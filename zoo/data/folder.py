"""The `folder:PATH` dataset: one sub-folder per class, or `train/`, `val/`, `test/` each holding
class folders.

Images are found by name (`zoo.data.sources.is_image_name`, sub-folders included, in sorted
order) and decoded only when a batch asks for them (`zoo.data.sources.FileSource`); every other
file is listed in `Loaded.skipped` with its reason, hidden files (`.DS_Store`, macOS's `._`
resource forks) are neither. The images train at the size of the first readable one unless
`--image-size` says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.data.sources import FileSource, is_image_name
from zoo.data.splits import SPLIT_NAMES, Loaded, LoadOptions, Split
from zoo.errors import ZooError


def _is_hidden(path: Path) -> bool:
    # .DS_Store, and macOS's "._photo.jpg" resource forks that only look like images
    return path.name.startswith(".")


def _not_an_image(path: Path) -> str:
    return f"not an image file name ({path.suffix or 'no suffix'})"


def _list_class_folder(folder: Path) -> tuple[list[str], dict[str, str]]:
    """The image files under `folder` (sub-folders included) in sorted order, and
    `{path: reason}` of every other file. Hidden files are neither."""
    from imutils.paths import list_files

    files = sorted(Path(p) for p in list_files(str(folder)) if not _is_hidden(Path(p)))
    skipped = {str(p): _not_an_image(p) for p in files if not is_image_name(p)}
    return [str(p) for p in files if is_image_name(p)], skipped


def _class_folders(root: Path) -> tuple[list[str], list[str], list[int], dict[str, str]]:
    """(class names, image paths, labels, skipped files) of a folder with one sub-folder per
    class. Files beside the class folders are skipped too."""
    entries = sorted(p for p in root.iterdir() if not _is_hidden(p))
    classes = [p.name for p in entries if p.is_dir()]
    skipped = {str(p): "not inside a class folder" for p in entries if p.is_file()}
    paths, labels = [], []
    for label, name in enumerate(classes):
        images, others = _list_class_folder(root / name)
        paths += images
        labels += [label] * len(images)
        skipped.update(others)
    return classes, paths, labels, skipped


def _probe_size(name: str, paths: list[str], tries: int = 50) -> tuple[int, int]:
    """The size of the first readable image: folders train at that size unless --image-size."""
    from zoo.data.images import UnreadableImage, read_image

    for path in paths[:tries]:
        try:
            return read_image(path, channels=3).shape[:2]
        except UnreadableImage:
            continue
    raise ZooError(f"{name}: no readable image among the first {min(tries, len(paths))} files; "
                   "pass --image-size H,W")


def load_folder(path: str, options: LoadOptions) -> Loaded:
    """The images of folder `path` (`folder:PATH`), decoded to `options.image_size` (the first
    readable image's size when None) and `options.channels`, in one `FileSource` shared by
    the folder's own `train/`, `val/` and `test/` when it has them.

    Raises:
        ZooError: no such directory, fewer than two class folders, no image file, classes in
            `val/` or `test/` that `train/` lacks, or no readable image to take the size of.
    """
    name = f"folder:{path}"
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ZooError(f"{name}: no such directory")
    split_dirs = {s: root / s for s in SPLIT_NAMES if (root / s).is_dir()}
    if "train" in split_dirs:
        classes, paths, labels, skipped = _class_folders(split_dirs["train"])
        parts = {"train": (paths, labels)}
        for s in ("val", "test"):
            if s in split_dirs:
                names, p, lab, sk = _class_folders(split_dirs[s])
                unknown = sorted(set(names) - set(classes))
                if unknown:
                    raise ZooError(f"{name}: {s}/ has classes that train/ lacks: "
                                   f"{', '.join(unknown)}")
                remap = [classes.index(n) for n in names]
                parts[s] = (p, [remap[x] for x in lab])
                skipped.update(sk)
    else:
        classes, paths, labels, skipped = _class_folders(root)
        parts = {"train": (paths, labels)}
    if len(classes) < 2:
        raise ZooError(f"{name}: expected one sub-folder per class (at least two)")
    if not parts["train"][0]:
        raise ZooError(f"{name}: no image files found")

    size = options.image_size or _probe_size(name, parts["train"][0])
    all_paths, all_labels, ranges = [], [], {}
    for s, (p, lab) in parts.items():
        ranges[s] = np.arange(len(all_paths), len(all_paths) + len(p))
        all_paths += p
        all_labels += lab
    source = FileSource(all_paths, all_labels, size, options.channels)
    return Loaded(
        train=Split(source, ranges["train"]),
        val=Split(source, ranges["val"]) if "val" in ranges else None,
        test=Split(source, ranges["test"]) if "test" in ranges else None,
        label_names=classes,
        origin=str(root),
        skipped=skipped,
    )
