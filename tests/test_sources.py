"""Data sources: placing a dataset from a system package, a folder, files put by hand."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import shutil
import struct

import numpy as np
import pytest

from ggnbench import cli
from ggnbench.errors import GGNBenchError
from ggnbench.workload import data, idx, missing_hints, providers, source_record, sources
from ggnbench.workload.synthetic import write_idx

#: Debian's dataset-fashion-mnist, where installed: the only real data these tests meet.
PACKAGE = sources.Path(providers.SYSTEM_DATASETS) / "fashion-mnist"
needs_package = pytest.mark.skipif(
    not PACKAGE.is_dir(),
    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
)
NAMES = [n for p in ("train", "t10k") for n in idx.file_names(p)]


def small_fmnist(folder, n_train=60, n_test=20, gz=True, labels=None):
    """Balanced Fashion-MNIST-shaped IDX files (6 and 2 per class); returns the bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images_name, labels_name = idx.file_names(prefix)
        y = np.arange(n) % 10 if labels is None else labels
        for name, array in ((images_name, rng.integers(0, 255, (n, 28, 28))), (labels_name, y)):
            write_idx(folder / name, array)
            out[name] = (folder / name).read_bytes()
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(out[name]))
                (folder / name).unlink()
    return out


def small_spec(files):
    """The fmnist registry entry with the small data's sizes and checksums."""
    content = idx.IdxContent(
        examples={"train": 60, "t10k": 20},
        per_class={"train": 6, "t10k": 2},
        sha256={n: idx.sha256(b) for n, b in files.items()},
    )
    return dataclasses.replace(data.DATASETS["fmnist"], content=content)


@pytest.fixture
def system(tmp_path, monkeypatch):
    """A system datasets root of the test's own (empty until a test fills it)."""
    root = tmp_path / "system"
    root.mkdir()
    monkeypatch.setenv(providers.SYSTEM_DATASETS_ENV, str(root))
    return root


def test_the_package_source_places_checked_files_and_records_them(tmp_path, system):
    files = small_fmnist(system / "fashion-mnist")
    spec = small_spec(files)
    record = sources.ensure(spec, tmp_path / "data", allow_download=False)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    assert {p.name for p in raw.iterdir()} == {*NAMES, source_record.RECORD}
    assert all((raw / n).read_bytes() == files[n] for n in NAMES)  # decompressed originals
    assert record["source"] == "package" and "dataset-fashion-mnist" in record["origin"]
    assert record["sha256"] == spec.content.sha256
    saved = json.loads((raw / source_record.RECORD).read_text())
    assert saved["source"] == "package" and saved["sha256"] == record["sha256"]
    # in place: kept, and the record read back with the files' checksums
    again = sources.ensure(spec, tmp_path / "data", allow_download=False)
    assert again["source"] == "package" and again["matches_record"]


@pytest.mark.parametrize(
    "damage,reason",
    [
        ("truncate", "needs"),
        ("labels", "examples of class 0 where 6 belong"),
        ("checksum", "SHA-256 differs"),
        ("gz", "cannot be decompressed"),
    ],
)
def test_a_damaged_package_file_is_one_line_naming_it_and_the_reinstall(
    tmp_path, system, damage, reason
):
    folder = system / "fashion-mnist"
    spec = small_spec(small_fmnist(folder, gz=False))
    labels = folder / "train-labels-idx1-ubyte"
    if damage == "truncate":
        images = folder / "train-images-idx3-ubyte"
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "labels":
        write_idx(labels, np.full(60, 3))
    elif damage == "checksum":
        write_idx(labels, (np.arange(60) + 1) % 10)  # still balanced, other files' bytes
    else:
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not gzip")
        labels.unlink()
    with pytest.raises(GGNBenchError) as err:
        sources.ensure(spec, tmp_path / "data", allow_download=False)
    message = str(err.value)
    assert "\n" not in message and reason in message
    assert "apt-get install --reinstall dataset-fashion-mnist" in message
    assert not (tmp_path / "data" / "FashionMNIST" / "raw" / source_record.RECORD).exists()


def test_gz_files_put_by_hand_are_used_not_called_missing(tmp_path, system):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    spec = small_spec(small_fmnist(raw, gz=True))  # only the .gz, as a user copies them
    record = sources.ensure(spec, tmp_path / "data", allow_download=False)
    assert record["source"] == "folder" and "by hand" in record["origin"]
    assert all((raw / n).is_file() for n in NAMES)


def test_a_folder_named_with_from_is_the_source(tmp_path, system):
    files = small_fmnist(tmp_path / "mine")
    record = sources.ensure(small_spec(files), tmp_path / "data", False, folder=tmp_path / "mine")
    assert record["source"] == "folder" and str((tmp_path / "mine").resolve()) in record["origin"]
    with pytest.raises(GGNBenchError, match="no such folder"):
        sources.ensure(small_spec(files), tmp_path / "data", False, folder=tmp_path / "nope")


def test_damaged_files_in_place_stay_damaged_and_a_package_heals_them(tmp_path, system):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    spec = small_spec(small_fmnist(raw, gz=False))
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:500])
    with pytest.raises(GGNBenchError) as err:
        sources.ensure(spec, tmp_path / "data", allow_download=False)
    assert "is damaged" in str(err.value) and "missing" not in str(err.value).split(":")[0]
    assert str(images) in str(err.value)
    shutil.copytree(raw, system / "fashion-mnist")  # a package with the intact files
    write_idx(system / "fashion-mnist" / "t10k-images-idx3-ubyte", np.zeros((20, 28, 28)))
    spec = dataclasses.replace(
        spec,
        content=dataclasses.replace(
            spec.content,
            sha256={
                **spec.content.sha256,
                "t10k-images-idx3-ubyte": idx.sha256(
                    (system / "fashion-mnist" / "t10k-images-idx3-ubyte").read_bytes()
                ),
            },
        ),
    )
    assert sources.ensure(spec, tmp_path / "data", allow_download=False)["source"] == "package"
    assert len(images.read_bytes()) == 16 + 20 * 28 * 28


def test_missing_fmnist_names_every_way_to_get_it(tmp_path, system, capsys):
    status = cli.main(["download", "fmnist", "--data-root", str(tmp_path / "d"), "--no-download"])
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1
    assert "apt-get install dataset-fashion-mnist" in err
    assert "--from DIR" in err and "network" not in err  # --no-download: no network offered
    assert not (tmp_path / "d" / "FashionMNIST" / "raw" / source_record.RECORD).exists()


@pytest.fixture
def offline(monkeypatch):
    """The torchvision source, allowed to download, finds no network: the next is tried."""

    def no_network(spec, root, options):
        raise providers.Unavailable

    torchvision = dataclasses.replace(sources.SOURCES["torchvision"], provide=no_network)
    monkeypatch.setitem(sources.SOURCES, "torchvision", torchvision)


def command(name, root, out, no_download):
    """A command that needs fmnist under ``root``: download, train, or a workflow job."""
    flag = ["--no-download"] if no_download else []
    if name.startswith("download"):
        done = ["--done", str(out / "fmnist.ready")] if name == "download job" else []
        return ["download", "fmnist", "--data-root", str(root), *flag, *done]
    run = {"problem": "fmnist_2c2d", "optimizer": "sgd", "lr": 0.1, "steps": 1,
           "batch_size": 8, "eval_every": 0, "data_root": str(root),
           "download": not no_download}  # fmt: skip
    if name == "sweep":
        runs = json.dumps([{"out": str(out / "run"), "config": run}])
        return ["sweep", "--runs", runs, "--manifest", str(out / "manifest.json")]
    given = [key for key in run if key != "download"]  # train's is --no-download
    options = [part for key in given for part in (f"--{key.replace('_', '-')}", str(run[key]))]
    return ["train", *options, "--out", str(out / "run"), *flag]


@pytest.mark.parametrize("no_download", [True, False], ids=["no-download", "download"])
@pytest.mark.parametrize("name", ["download", "download job", "train", "sweep"])
def test_the_missing_data_message_names_only_what_works_for_its_command(
    tmp_path, system, offline, capsys, name, no_download
):
    root = tmp_path / "d"
    assert cli.main(command(name, root, tmp_path, no_download)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: dataset 'fmnist' is missing under") and "\n" not in err
    # every command can take the files put in place by hand, or from the system package
    assert f"into {(root / 'FashionMNIST' / 'raw').resolve()} and rerun" in err
    assert "apt-get install dataset-fashion-mnist" in err
    # only ggnbench download takes --from; only a run allowed to download needs the network
    assert ("--from DIR" in err) == (name == "download")
    assert ("network" in err) == (not no_download)
    assert ("rerun the workflow" in err) == (name in ("download job", "sweep"))


def test_train_without_download_is_helped_by_what_its_message_says(tmp_path, system, capsys):
    root = tmp_path / "d"
    argv = command("train", root, tmp_path, no_download=True)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    where = re.search(r"into (\S+) and rerun", err).group(1)
    small_fmnist(sources.Path(where), gz=False)  # put the files there, as the message says
    assert cli.main(argv) == 0, capsys.readouterr().err


@pytest.mark.parametrize("context", missing_hints.CONTEXTS)
def test_cifar_in_place_is_its_extracted_folder_and_from_takes_the_archive(tmp_path, context):
    spec = data.DATASETS["cifar10"]
    message = sources.missing_message(spec, tmp_path, context, allow_download=False)
    assert f"put the extracted folder cifar-10-batches-py into {tmp_path.resolve()}" in message
    # the archive is read from --from DIR only (in place it needs torchvision's download)
    assert ("cifar-10-python.tar.gz" in message) == (context == "download")
    assert ("--from DIR" in message) == (context == "download")
    assert "network" not in message
    allowed = sources.missing_message(spec, tmp_path, context, allow_download=True)
    assert "with network access" in allowed
    with pytest.raises(ValueError, match="unknown context"):
        sources.missing_message(spec, tmp_path, "nope")


def test_damaged_data_that_train_cannot_replace_names_trains_ways(tmp_path, system, capsys):
    raw = tmp_path / "d" / "FashionMNIST" / "raw"
    small_fmnist(raw, gz=False)
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:500])
    assert cli.main(command("train", tmp_path / "d", tmp_path, no_download=True)) == 2
    err = capsys.readouterr().err
    assert f"is damaged: {images}" in err and "delete it and install" in err
    assert "--from" not in err and "network" not in err
    assert cli.main(command("download", tmp_path / "d", tmp_path, no_download=True)) == 2
    assert "--from DIR" in capsys.readouterr().err


def test_real_sizes_are_required_of_a_package(tmp_path, system, capsys):
    small_fmnist(system / "fashion-mnist")  # a package of 60 images is not Fashion-MNIST
    status = cli.main(["download", "fmnist", "--data-root", str(tmp_path / "d"), "--no-download"])
    err = capsys.readouterr().err
    assert status != 0 and "60 examples where 60000 belong" in err and "reinstall" in err


def test_idx_parse_reads_what_write_idx_wrote_and_refuses_a_bad_header():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = struct.pack(">HBB3I", 0, 8, 3, 2, 3, 4)
    assert np.array_equal(idx.parse(header + array.tobytes()), array)
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        idx.parse(b"\x00\x00\x09\x03" + header[4:] + array.tobytes())
    with pytest.raises(ValueError, match="needs"):
        idx.parse(header + array.tobytes()[:-1])


@needs_package
def test_download_fmnist_from_the_debian_package(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(providers.SYSTEM_DATASETS_ENV, raising=False)
    root = tmp_path / "data"
    done = tmp_path / "fmnist.ready"
    argv = ["download", "fmnist", "--data-root", str(root), "--no-download", "--done", str(done)]
    assert cli.main(argv) == 0
    assert "source: package" in capsys.readouterr().out
    record = json.loads(done.read_text())
    assert record["sha256"] == data.DATASETS["fmnist"].content.sha256  # the original files
    from torchvision.datasets import FashionMNIST

    train = FashionMNIST(str(root), train=True, download=False)
    assert len(train) == 60_000 and len(FashionMNIST(str(root), train=False)) == 10_000
    assert cli.main(argv) == 0  # in place: kept


@needs_package
def test_the_debian_files_copied_into_raw_by_hand_are_found(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(providers.SYSTEM_DATASETS_ENV, str(tmp_path / "none"))
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in PACKAGE.glob("*.gz"):
        shutil.copy(gz, raw / gz.name)
    argv = ["download", "fmnist", "--data-root", str(tmp_path / "data"), "--no-download"]
    assert cli.main(argv) == 0
    assert "source: folder" in capsys.readouterr().out


def test_bundled_digits_record_their_source(tmp_path):
    record = data.prepare("digits", tmp_path)
    assert record["source"] == "bundled" and "scikit-learn" in record["origin"]
    assert set(record["sha256"]) == {"digits.pt"}


@pytest.mark.parametrize(
    "label,reason",
    [
        (9, None),  # classes - 1: the last class, fine
        (10, "label 10 outside 0-9"),  # == classes: damaged
        (-1, "label 255 outside 0-9"),  # an unsigned byte: -1 is written as 255
    ],
)
def test_a_label_equal_to_the_number_of_classes_is_damaged(tmp_path, label, reason):
    # MNIST's content has no per-class counts, so only the range check can see the label
    mnist = data.DATASETS["mnist"]
    assert mnist.content.per_class is None and mnist.content.classes == 10
    content = dataclasses.replace(mnist.content, examples={"train": 30, "t10k": 10})
    labels = np.arange(30) % 9  # 0-8, and the label under test once
    labels[7] = label
    small_fmnist(tmp_path / "mine", n_train=30, n_test=10, gz=False)
    write_idx(tmp_path / "mine" / "train-labels-idx1-ubyte", labels)
    files = idx.read_folder(tmp_path / "mine", NAMES)
    found = idx.problems(files, content)
    assert found == ([] if reason is None else [("train-labels-idx1-ubyte", reason)])
    # and through the folder source: the message names the file and the label
    spec = dataclasses.replace(mnist, content=content)
    if reason is None:
        record = sources.ensure(spec, tmp_path / "d", False, folder=tmp_path / "mine")
        assert record["source"] == "folder"
    else:
        with pytest.raises(GGNBenchError, match=f"train-labels-idx1-ubyte is damaged \\({reason}"):
            sources.ensure(spec, tmp_path / "d", False, folder=tmp_path / "mine")
