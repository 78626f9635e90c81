from __future__ import annotations

import pyarrow as pa

from ember.exec.join import equi_pairs


def test_equi_pairs_match_nan_with_nan_and_negative_zero_with_zero_but_never_nulls() -> None:
    stream = pa.array([float("nan"), -0.0, None, 1.0])
    build = pa.array([0.0, float("nan"), None])
    si, bi = equi_pairs([stream], [build])
    assert list(zip(si.tolist(), bi.tolist(), strict=True)) == [(0, 1), (1, 0)]
