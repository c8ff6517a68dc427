"""The shipped binaries (bin/<arch>/, built by scripts/dist with `cargo build
--release`) carry no test seam: pve_cluster_join's binary tests point it at a
temporary root and a port of their own through environment variables, which
only a build with the feature `test-seams` (their dev-dependency) reads."""

import pytest

from conftest import ROOT

SEAMS = [b"PVE_CLUSTER_JOIN_ROOT", b"PVE_CLUSTER_JOIN_PEER_PORT"]
BINARIES = sorted(p for p in (ROOT / "bin").glob("*/pve_*") if p.is_file())


def test_there_are_binaries_for_both_architectures():
    assert {p.parent.name for p in BINARIES} == {"x86_64", "aarch64"}, "run scripts/dist"


def test_the_seams_exist_in_the_sources():
    # The names this test looks for are the ones the test build reads.
    source = (ROOT / "library/src/modules/cluster_join/host.rs").read_bytes()
    assert all(seam in source for seam in SEAMS)


@pytest.mark.parametrize("binary", BINARIES, ids=[f"{p.parent.name}/{p.name}" for p in BINARIES])
def test_a_shipped_binary_reads_no_test_seam(binary):
    data = binary.read_bytes()
    assert [s for s in SEAMS if s in data] == []
