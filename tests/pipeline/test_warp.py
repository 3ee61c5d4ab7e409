"""The piecewise-affine warp's pieces: each triangle's affine map, and the remap grids."""

from __future__ import annotations

import numpy as np

from pipeline.latent.warp import affine_maps, dst_inverses, remap_grid, remap_grids, triangle_labels


def corners_mapped(matrices: np.ndarray, points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    homogeneous = np.concatenate([points[triangles], np.ones((len(triangles), 3, 1))], axis=2)
    return np.einsum("kij,kcj->kci", matrices, homogeneous)


def test_each_triangle_maps_its_dst_corners_onto_its_src_corners():
    rng = np.random.default_rng(0)
    dst = rng.uniform(0, 100, (12, 2))
    src = dst + rng.normal(0, 5, dst.shape)
    triangles = np.array([rng.choice(12, 3, replace=False) for _ in range(20)])
    matrices = affine_maps(src, dst, triangles)
    assert np.allclose(corners_mapped(matrices, dst, triangles), src[triangles], atol=1e-6)
    shared = dst_inverses(dst, triangles)
    assert np.array_equal(affine_maps(src, dst, triangles, shared), matrices)


def test_a_degenerate_triangle_maps_everything_to_its_src_centroid():
    dst = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 5.0]])  # first three on a line
    src = np.array([[3.0, 1.0], [6.0, 4.0], [0.0, 7.0], [1.0, 1.0]])
    (matrix,) = affine_maps(src, dst, np.array([[0, 1, 2]]))
    assert np.allclose(matrix[:, :2], 0) and np.allclose(matrix[:, 2], [3.0, 4.0])


def test_remap_grids_gives_each_warp_what_remap_grid_gives_it_alone():
    dst = np.array([[2.0, 2.0], [30.0, 4.0], [6.0, 28.0], [28.0, 30.0]])
    triangles = np.array([[0, 1, 2], [1, 3, 2]])
    labels = triangle_labels(dst, triangles, (32, 32))
    assert (labels == 0).any() and (labels == 1).any() and (labels == -1).any()
    warps = [affine_maps(dst * 1.1, dst, triangles), affine_maps(dst + 3, dst, triangles)]
    together = remap_grids(labels, warps, (5, 7))
    for warp, (map_x, map_y) in zip(warps, together, strict=True):
        alone_x, alone_y = remap_grid(labels, warp, (5, 7))
        assert np.array_equal(map_x, alone_x) and np.array_equal(map_y, alone_y)
    outside = labels < 0
    xs, ys = np.meshgrid(np.arange(32) + 5, np.arange(32) + 7)
    assert np.array_equal(together[0][0][outside], xs[outside])
    assert np.array_equal(together[0][1][outside], ys[outside])


def test_remap_grids_on_a_coarser_grid_gives_the_full_maps_at_its_points():
    dst = np.array([[2.0, 2.0], [30.0, 4.0], [6.0, 28.0], [28.0, 30.0]])
    triangles = np.array([[0, 1, 2], [1, 3, 2]])
    labels = triangle_labels(dst, triangles, (32, 32))
    warps = [affine_maps(dst * 1.1, dst, triangles), affine_maps(dst + 3, dst, triangles)]
    full = remap_grids(labels, warps, (5, 7))
    coarse = remap_grids(labels[1::2, ::2], warps, (5, 8), step=2)
    for (full_x, full_y), (map_x, map_y) in zip(full, coarse, strict=True):
        assert np.allclose(map_x, full_x[1::2, ::2]) and np.allclose(map_y, full_y[1::2, ::2])
