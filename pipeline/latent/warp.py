"""Piecewise-affine warps over a fixed triangulation of face points.

A warp is described by the same points in two geometries, `src` (where pixels come from) and
`dst` (where they go). Each output pixel is labelled with the `dst` triangle it lies in, and
sampled through that triangle's affine map back into `src`. Triangles are fixed once (on the
mean shape) so the correspondence never changes between faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_SHIFT = 4  # sub-pixel bits when rasterising triangles
# The swap's warp maps are worked out on every MAP_STEP-th pixel and resized to every pixel
# (`map_grid`): smoothed, they vary so slowly that this moves them by under a quarter of a
# pixel for 99 % of the face's pixels, at a quarter of the work (labels, affine maps, blur).
MAP_STEP = 2


def delaunay(points: np.ndarray) -> np.ndarray:
    """(k, 3) vertex indices of the Delaunay triangulation of (n, 2) points."""
    lo = points.min(axis=0) - 1
    hi = points.max(axis=0) + 1
    subdiv = cv2.Subdiv2D(
        (
            int(np.floor(lo[0])),
            int(np.floor(lo[1])),
            int(np.ceil(hi[0] - lo[0])) + 1,
            int(np.ceil(hi[1] - lo[1])) + 1,
        )
    )
    for x, y in points:
        subdiv.insert((float(x), float(y)))
    triangles = []
    for tri in subdiv.getTriangleList().reshape(-1, 3, 2):
        distances = np.linalg.norm(points[None, :, :] - tri[:, None, :], axis=2)
        index = distances.argmin(axis=1)
        if distances[np.arange(3), index].max() < 1e-3 and len(set(index.tolist())) == 3:
            triangles.append(index)
    return np.array(triangles, dtype=np.int32)


def triangle_labels(dst: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """int32 image: the index of the dst triangle each pixel centre falls in, -1 for none."""
    labels = np.full(shape, -1, np.int32)
    corners = np.round(dst * (1 << _SHIFT)).astype(np.int32)[triangles]  # (k, 3, 2)
    for t, corner in enumerate(corners):
        cv2.fillConvexPoly(labels, corner, t, lineType=cv2.LINE_8, shift=_SHIFT)
    return labels


def affine_maps(
    src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, inverses: np.ndarray | None = None
) -> np.ndarray:
    """(k, 2, 3) affine matrices taking each dst triangle onto its src triangle. `inverses`:
    `dst_inverses(dst, triangles)`, when several warps share the same dst."""
    if inverses is None:
        inverses = dst_inverses(dst, triangles)
    s = src[triangles]  # k×3×2
    solution = inverses @ s  # k×3×2: d @ X = s, d's rows [x y 1] of the dst corners
    degenerate = ~np.isfinite(inverses[:, 0, 0])  # such a triangle maps by its centroid
    solution[degenerate] = 0.0
    solution[degenerate, 2] = s[degenerate].mean(axis=1)
    return solution.transpose(0, 2, 1)


def dst_inverses(dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(k, 3, 3): the inverse of each dst triangle's matrix of rows [x y 1] (NaN for a
    degenerate triangle), in closed form: the rows' cross products over the determinant."""
    d = np.concatenate([dst[triangles], np.ones((len(triangles), 3, 1))], axis=2)
    a, b, c = d[:, 0], d[:, 1], d[:, 2]
    adjugate = np.stack([np.cross(b, c), np.cross(c, a), np.cross(a, b)], axis=2)
    det = np.einsum("kj,kj->k", a, adjugate[:, :, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(np.abs(det) > 1e-9, 1.0 / det, np.nan)
    return adjugate * scale[:, None, None]


def coefficient_table(matrices: np.ndarray) -> np.ndarray:
    """(k + 1, 6) float32: one row of six affine coefficients per triangle, and a last,
    identity row for unlabelled pixels (index it with `labels`, −1 replaced by k)."""
    return np.concatenate([matrices.reshape(-1, 6), [[1, 0, 0, 0, 1, 0]]]).astype(np.float32)


def remap_grid(
    labels: np.ndarray, matrices: np.ndarray, origin: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps for a labelled region whose top-left pixel is `origin` in dst space.
    Unlabelled pixels map to themselves."""
    return remap_grids(labels, [matrices], origin)[0]


def remap_grids(
    labels: np.ndarray,
    warps: list[np.ndarray],
    origin: tuple[float, float] = (0, 0),
    step: int = 1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`remap_grid` for several warps over the same labels, with one lookup of the labels.
    `step`: the labels' pixels lie this many dst pixels apart (`grid_points`)."""
    height, width = labels.shape
    xs, ys = grid_points((height, width), origin, step)
    table = np.concatenate([coefficient_table(m) for m in warps], axis=1).T
    flat = np.where(labels >= 0, labels, len(warps[0])).reshape(-1)
    coefficients = np.take(table, flat, axis=1).reshape(len(warps), 6, height, width)
    maps = []
    for a, b, c, d, e, f in coefficients:
        maps.append((a * xs + b * ys + c, d * xs + e * ys + f))
    return maps


def map_grid(
    box: tuple[int, int, int, int], step: int
) -> tuple[tuple[int, int], tuple[float, float]]:
    """The grid (h, w) and its origin (`grid_points`) on which a box's (left, top, right,
    bottom) warp maps are worked out `step` pixels apart before a linear resize by `step`
    (OpenCV's, or torch's without aligned corners) brings them to every pixel. The grid reaches
    one point beyond the box each way, so no pixel's value is extrapolated: after the resize,
    grid point j lands on pixel step·j + (step − 1) / 2, so the box starts at `step`."""
    left, top, right, bottom = box
    grid = (-(-(bottom - top) // step) + 2, -(-(right - left) // step) + 2)
    return grid, (left - (step + 1) / 2, top - (step + 1) / 2)


def grid_points(
    shape: tuple[int, int], origin: tuple[float, float] = (0, 0), step: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The dst coordinates of a grid of `shape` (h, w) whose top-left point is `origin` and
    whose points lie `step` pixels apart: x as a (1, w) row, y as an (h, 1) column."""
    xs = np.arange(shape[1], dtype=np.float32)[None, :] * step + np.float32(origin[0])
    ys = np.arange(shape[0], dtype=np.float32)[:, None] * step + np.float32(origin[1])
    return xs, ys


@dataclass(frozen=True, eq=False)
class FixedTarget:
    """The destination half of every warp onto one fixed geometry, worked out once: for each
    wanted output pixel, the triangle it lies in and its barycentric weights there. A warp onto
    it is then a weighted sum of source points and one remap of just those pixels."""

    corners: np.ndarray  # (n, 3) control-point indices of each pixel's triangle
    weights: np.ndarray  # (n, 3) float32 barycentric weights

    @classmethod
    def build(
        cls, dst: np.ndarray, triangles: np.ndarray, shape: tuple[int, int], pixels: np.ndarray
    ) -> FixedTarget:
        """`pixels`: flat indices into an image of `shape` whose points are `dst`."""
        labels = np.maximum(triangle_labels(dst, triangles, shape).reshape(-1)[pixels], 0)
        ys, xs = np.divmod(pixels, shape[1])
        corners = triangles[labels]
        a, b, c = (dst[corners[:, i]] for i in range(3))
        edges = np.stack([b - a, c - a], axis=2)  # (n, 2, 2): columns b−a, c−a
        uv = np.linalg.solve(edges, (np.stack([xs, ys], axis=1) - a)[..., None])[..., 0]
        weights = np.column_stack([1 - uv.sum(axis=1), uv]).astype(np.float32)
        return cls(corners.astype(np.int32), weights)

    def sample(self, image: np.ndarray, src: np.ndarray) -> np.ndarray:
        """(n, channels) float32: `image` (whose points are `src`) at the target's pixels."""
        points = np.einsum("nk,nkd->nd", self.weights, src[self.corners].astype(np.float32))
        values = cv2.remap(
            image,
            np.ascontiguousarray(points[None, :, 0]),
            np.ascontiguousarray(points[None, :, 1]),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        return values.reshape(len(points), -1).astype(np.float32)


def warp(
    image: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    triangles: np.ndarray,
    out_shape: tuple[int, int],
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Warp `image` so that its `src` points land on `dst`, into an out_shape (h, w) image."""
    labels = triangle_labels(dst, triangles, out_shape)
    map_x, map_y = remap_grid(labels, affine_maps(src, dst, triangles))
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REFLECT_101)
