"""Each reader against files written by an independent writer: data and calibration."""

from __future__ import annotations

import zipfile

import dask.array as da
import h5py
import numpy as np
import pytest
import zarr

from symbreak.calibration import electron_wavelength
from symbreak.errors import FormatError
from symbreak.io import formats, load, save
from symbreak.storage.zarr_compat import ZARR_MAJOR


def test_npy_is_memory_mapped_and_user_calibration_overrides(tmp_path, writers):
    data = writers.counts((3, 4, 6, 5))
    np.save(tmp_path / "d.npy", data)
    ds = load(tmp_path / "d.npy", energy=200e3, scan_step=(0.3, 0.4))
    assert isinstance(ds.array, np.memmap)
    np.testing.assert_array_equal(ds.to_numpy(), data)
    assert ds.calibration.energy == 200e3 and ds.calibration.sources["energy"] == "user"
    assert ds.calibration.scan_step == (0.3, 0.4)


def test_npy_fortran_order_and_explicit_chunks(tmp_path, writers):
    data = np.asfortranarray(writers.counts((3, 4, 6, 5), np.float32))
    np.save(tmp_path / "f.npy", data)
    ds = load(tmp_path / "f.npy", chunks=(1, 2, 6, 5))
    assert ds.is_lazy and ds.array.chunks[1] == (2, 2)
    np.testing.assert_array_equal(ds.to_numpy(), data)


def test_npy_stack_with_scan_shape(tmp_path, writers):
    data = writers.counts((12, 6, 5))
    np.save(tmp_path / "s.npy", data)
    ds = load(tmp_path / "s.npy", scan_shape=(3, 4))
    np.testing.assert_array_equal(ds.pattern(2, 1), data[2 * 4 + 1])


def _abtem_patterns(array, scan_sampling=(0.2, 0.3), k_sampling=(0.05, 0.04)):
    from abtem.core.axes import ScanAxis
    from abtem.measurements import DiffractionPatterns

    return DiffractionPatterns(
        array, sampling=k_sampling, fftshift=True,
        ensemble_axes_metadata=[ScanAxis(label="x", sampling=scan_sampling[0], units="Å"),
                                ScanAxis(label="y", sampling=scan_sampling[1], units="Å")],
        metadata={"energy": 80e3, "semiangle_cutoff": 21.4})


@pytest.mark.parametrize("suffix", [".zarr", ".zip"])
def test_abtem_to_zarr(tmp_path, writers, suffix):
    # abTEM order is (x, y, kx, ky); symbreak's (scan_y, scan_x, ky, kx)
    array = writers.counts((4, 3, 10, 8), np.float32)
    _abtem_patterns(array).to_zarr(str(tmp_path / f"ab{suffix}"), progress_bar=False)
    ds = load(tmp_path / f"ab{suffix}")
    assert ds.shape == (3, 4, 8, 10)
    np.testing.assert_array_equal(ds.to_numpy(), array.transpose(1, 0, 3, 2))
    cal = ds.calibration
    assert cal.energy == 80e3 and cal.semiangle == 21.4
    assert cal.scan_step == pytest.approx((0.3, 0.2))
    assert cal.k_sampling == pytest.approx((0.04, 0.05))
    assert cal.detector_center == pytest.approx((4, 5))
    lam = electron_wavelength(80e3)
    assert cal.angular_sampling == pytest.approx((0.04 * lam * 1e3, 0.05 * lam * 1e3))


def test_plain_zarr_v2_with_one_4d_array(tmp_path, writers):
    data = writers.counts((2, 3, 4, 5), np.int32)
    if ZARR_MAJOR >= 3:
        group = zarr.open_group(str(tmp_path / "p.zarr"), mode="w", zarr_format=2)
        group.create_array("frames", data=data)
        group.create_array("image", data=data[..., 0, 0])
    else:  # zarr-python 2 writes format 2 only
        group = zarr.open_group(str(tmp_path / "p.zarr"), mode="w")
        group.create_dataset("frames", data=data)
        group.create_dataset("image", data=data[..., 0, 0])
    ds = load(tmp_path / "p.zarr")
    np.testing.assert_array_equal(ds.to_numpy(), data)


def test_emd_written_per_published_layout(tmp_path, writers):
    data = writers.counts((3, 4, 6, 6), np.uint16)
    writers.emd(tmp_path / "e.emd", data, r_step=0.5, q_step=0.02)
    ds = load(tmp_path / "e.emd")
    np.testing.assert_array_equal(ds.to_numpy(), data)
    assert ds.calibration.scan_step == (0.5, 0.5)
    assert ds.calibration.k_sampling == (0.02, 0.02)
    assert ds.calibration.sources["k_sampling"] == "file"


def test_emd_with_nm_and_mrad(tmp_path, writers):
    writers.emd(tmp_path / "e.h5", writers.counts((2, 2, 4, 4)), r_step=0.05, q_step=1.5,
                r_units="nm", q_units="mrad")
    cal = load(tmp_path / "e.h5").calibration
    assert cal.scan_step == pytest.approx((0.5, 0.5))
    assert cal.angular_sampling == (1.5, 1.5)


def test_hdf5_with_one_4d_dataset_and_dataset_choice(tmp_path, writers):
    a, b = writers.counts((2, 3, 4, 5), seed=1), writers.counts((2, 2, 4, 4), seed=2)
    with h5py.File(tmp_path / "one.h5", "w") as f:
        f.create_dataset("scan/frames", data=a, chunks=(1, 1, 4, 5))
        f.create_dataset("haadf", data=a[..., 0, 0])
    np.testing.assert_array_equal(load(tmp_path / "one.h5").to_numpy(), a)
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"], f["b"] = a, b
    np.testing.assert_array_equal(load(tmp_path / "two.h5", dataset="b").to_numpy(), b)


def test_paper_layout(tmp_path, writers):
    patterns = writers.counts((5, 4, 6, 7), np.float32)
    path = tmp_path / "C6_SQ_A32_df=0.00_R1.h5"
    writers.paper(path, patterns)
    ds = load(path)
    assert ds.shape == (5, 4, 6, 7)
    np.testing.assert_array_equal(ds.to_numpy(), patterns)
    np.testing.assert_array_equal(ds.pattern(3, 2), patterns[3, 2])
    np.testing.assert_array_equal(ds[1:4, ::2, 1:5].to_numpy(), patterns[1:4, ::2, 1:5])
    cal = ds.calibration
    assert cal.k_sampling == pytest.approx((1 / (20 * 2.464), 1 / (12 * 4.268)))
    assert cal.scan_step == pytest.approx((2.464 / 5, 4.268 / 4))
    assert cal.energy == 60e3 and cal.semiangle == 32.0
    assert cal.sources["semiangle"] == "file name"


def test_paper_layout_reads_only_the_requested_rows(tmp_path, writers):
    from symbreak.io.paper import StackedPatterns

    patterns = writers.counts((4, 5, 3, 3))
    stack = patterns.reshape(-1, 3)

    class Recorder:
        shape, dtype, ndim = stack.shape, stack.dtype, 2
        requests: list = []

        def __getitem__(self, key):
            self.requests.append(key)
            return stack[key]

    rec = Recorder()
    lazy = da.from_array(StackedPatterns(rec, (4, 5), (3, 3)), chunks=(2, 5, 3, 3))
    np.testing.assert_array_equal(lazy[3, 1].compute(), patterns[3, 1])
    rows = [k[0] for k in rec.requests if k[0].stop - k[0].start > 0]
    assert rows == [slice((3 * 5 + 1) * 3, (3 * 5 + 2) * 3)]


def test_ndata1_stored_is_memory_mapped(tmp_path, writers):
    data = writers.counts((3, 4, 8, 10), np.float32)
    writers.ndata1(tmp_path / "d.ndata1", data, stored=True)
    ds = load(tmp_path / "d.ndata1")
    assert isinstance(ds.array, np.memmap)
    np.testing.assert_array_equal(ds.to_numpy(), data)
    cal = ds.calibration
    assert cal.scan_step == pytest.approx((0.25, 0.3))
    assert cal.angular_sampling == pytest.approx((0.5, 0.5))
    assert cal.detector_center == pytest.approx((8, 10))
    assert cal.energy == 60000.0


def test_ndata1_deflated_is_read(tmp_path, writers):
    data = writers.counts((2, 3, 4, 4))
    writers.ndata1(tmp_path / "z.ndata1", data, stored=False)
    with zipfile.ZipFile(tmp_path / "z.ndata1") as z:
        assert z.getinfo("data.npy").compress_type == zipfile.ZIP_DEFLATED
    np.testing.assert_array_equal(load(tmp_path / "z.ndata1").to_numpy(), data)


def test_hspy_written_by_rosettasciio(tmp_path, writers):
    from rsciio.hspy import file_writer

    data = writers.counts((3, 4, 8, 8), np.uint8)
    axes = [{"name": n, "size": s, "scale": sc, "offset": o, "units": u, "navigate": nav,
             "index_in_array": i}
            for i, (n, s, sc, o, u, nav) in enumerate([
                ("y", 3, 0.5, 0.0, "nm", True), ("x", 4, 0.25, 0.0, "nm", True),
                ("ky", 8, 0.1, -0.4, "1/nm", False), ("kx", 8, 0.1, -0.3, "1/nm", False)])]
    metadata = {"General": {"title": "t"}, "Signal": {"signal_type": "electron_diffraction"},
                "Acquisition_instrument": {"TEM": {"beam_energy": 200.0,
                                                   "convergence_angle": 1.5}}}
    file_writer(str(tmp_path / "x.hspy"), {
        "data": data, "axes": axes, "metadata": metadata, "original_metadata": {},
        "attributes": {"_lazy": False}, "tmp_parameters": {}, "learning_results": {},
        "models": {}, "package_info": {"name": "hyperspy", "version": "2.0"}})
    ds = load(tmp_path / "x.hspy")
    np.testing.assert_array_equal(ds.to_numpy(), data)
    cal = ds.calibration
    assert cal.energy == 200e3 and cal.semiangle == 1.5
    assert cal.scan_step == pytest.approx((5.0, 2.5))
    assert cal.k_sampling == pytest.approx((0.01, 0.01))
    assert cal.detector_center == pytest.approx((4, 3))


def test_mib_with_hdr(tmp_path, writers):
    frames = writers.counts((12, 16, 16), np.uint16)
    writers.mib(tmp_path / "m.mib", frames, scan_shape=(3, 4))
    ds = load(tmp_path / "m.mib")
    assert ds.shape == (3, 4, 16, 16)
    # RosettaSciIO shows Merlin frames flipped vertically (detector rows bottom-up)
    np.testing.assert_array_equal(ds.to_numpy(), frames.reshape(3, 4, 16, 16)[:, :, ::-1])


def test_mib_without_hdr_takes_scan_shape(tmp_path, writers):
    frames = writers.counts((6, 8, 8), np.uint8)
    writers.mib(tmp_path / "m.mib", frames, scan_shape=(2, 3), with_hdr=False)
    ds = load(tmp_path / "m.mib", scan_shape=(2, 3))
    np.testing.assert_array_equal(ds.to_numpy(), frames.reshape(2, 3, 8, 8)[:, :, ::-1])


def test_empad_xml_and_raw(tmp_path, writers):
    data = writers.counts((3, 4, 128, 128), np.float32)
    xml = writers.empad(tmp_path, data, fov_m=(1.2e-9, 1.2e-9))
    ds = load(xml)
    np.testing.assert_array_equal(ds.to_numpy(), data)
    # a 12 Å field of view over 3 rows and 4 columns
    assert ds.calibration.scan_step == pytest.approx((4.0, 3.0))


def test_mrc_stack_with_scan_shape(tmp_path, writers):
    stack = writers.counts((6, 8, 10), np.uint16)
    writers.mrc(tmp_path / "s.mrc", stack)
    ds = load(tmp_path / "s.mrc", scan_shape=(2, 3))
    np.testing.assert_array_equal(ds.to_numpy(), stack.reshape(2, 3, 8, 10))


def test_format_table_lists_every_suffix():
    table = {row["name"]: row for row in formats()}
    suffixes = {s for row in table.values() for s in row["suffixes"]}
    for suffix in (".npy", ".zarr", ".zip", ".h5", ".hdf5", ".emd", ".ndata1", ".mib",
                   ".dm3", ".dm4", ".xml", ".hspy", ".zspy", ".blo", ".mrc"):
        assert suffix in suffixes
    assert table["zarr"]["writes"] and table["emd"]["writes"] and not table["mib"]["writes"]


@pytest.mark.slow
def test_abtem_simulation_to_zarr_and_lazy_save(tmp_path):
    """A real (tiny) abTEM 4D-STEM run: its to_zarr output, and save() of its lazy array."""
    import abtem
    from ase.build import graphene

    from symbreak.dataset import Dataset4D
    from symbreak.io import save

    atoms = abtem.orthogonalize_cell(graphene(a=2.46, vacuum=2))
    potential = abtem.Potential(atoms, gpts=48, slice_thickness=2)
    probe = abtem.Probe(energy=60e3, semiangle_cutoff=25)
    scan = abtem.GridScan(start=(0, 0), end=(1.2, 1.0), gpts=(3, 4))
    patterns = probe.scan(potential, scan=scan, detectors=abtem.PixelatedDetector(max_angle=40),
                          lazy=True)
    patterns.to_zarr(str(tmp_path / "sim.zarr"), progress_bar=False)
    ds = load(tmp_path / "sim.zarr")
    reference = patterns.compute().array
    np.testing.assert_allclose(ds.to_numpy(), reference.transpose(1, 0, 3, 2))
    assert ds.calibration.scan_step == pytest.approx((scan.sampling[1], scan.sampling[0]))
    assert ds.calibration.energy == 60e3 and ds.calibration.semiangle == 25
    lazy = probe.scan(potential, scan=scan, detectors=abtem.PixelatedDetector(max_angle=40),
                      lazy=True).array
    out = save(Dataset4D(array=lazy.transpose(1, 0, 3, 2)), tmp_path / "lazy.zarr")
    np.testing.assert_allclose(load(out).to_numpy(), ds.to_numpy(), rtol=1e-6)


def test_dm4_written_per_the_tag_file_layout(tmp_path, writers):
    data = writers.counts((3, 4, 32, 40), np.uint16)
    writers.dm4(tmp_path / "scan.dm4", data, scan=(0.2, "nm"), detector=(0.1, "1/nm"),
                center=(16.0, 20.0), voltage=300e3)
    ds = load(tmp_path / "scan.dm4")
    assert ds.is_lazy
    np.testing.assert_array_equal(ds.to_numpy(), data)
    cal = ds.calibration
    assert cal.scan_step == pytest.approx((2.0, 2.0))
    assert cal.k_sampling == pytest.approx((0.01, 0.01))
    assert cal.detector_center == pytest.approx((16.0, 20.0))
    assert cal.energy == pytest.approx(300e3)


def test_zarr_store_without_the_suffix_is_recognised(tmp_path):
    data = np.arange(2 * 3 * 4 * 4, dtype=np.uint16).reshape(2, 3, 4, 4)
    save(data, tmp_path / "scan.zarr")
    (tmp_path / "scan.zarr").rename(tmp_path / "scan")
    np.testing.assert_array_equal(load(tmp_path / "scan").to_numpy(), data)
    (tmp_path / "plain").mkdir()
    with pytest.raises(FormatError, match="is a directory"):
        load(tmp_path / "plain")
