"""The latent swap's render on a torch device (the GPU when there is one).

The same warp as `swapper.render` (OpenCV on the CPU): each pixel of the anchor ring's box is
labelled with the destination triangle it lies in (a barycentric test against every triangle
at once, the last one winning as in OpenCV's rasterising), mapped back through that
triangle's affine matrix, the maps are smoothed as on the CPU, and `grid_sample` samples the
face (bicubic, mirrored borders) and the texture difference (bilinear). Results match the CPU
render to within rounding except along some triangle edges, where the rasteriser and the
barycentric test give a pixel to different neighbours (tested: see test_latent.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .warp import MAP_STEP, affine_maps, coefficient_table, grid_points, map_grid

_EDGE = 1e-5  # barycentric tolerance: pixels on an edge belong to the triangle


def triangle_labels_on(points: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """(n,) index of the last of the (k, 3, 2) `corners` triangles holding each of the (n, 2)
    `points`, −1 for none."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]  # (k, 2)
    v0, v1 = b - a, c - a
    area = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]  # (k,), twice the signed area
    rel = points[:, None, :] - a[None]  # (n, k, 2)
    u = (rel[..., 0] * v1[:, 1] - rel[..., 1] * v1[:, 0]) / area
    v = (v0[:, 0] * rel[..., 1] - v0[:, 1] * rel[..., 0]) / area
    inside = (u >= -_EDGE) & (v >= -_EDGE) & (u + v <= 1 + _EDGE) & (area.abs() > 1e-9)
    index = torch.arange(len(corners), device=points.device).expand_as(inside)
    return torch.where(inside, index, -1).max(dim=1).values


def gaussian_blur(values: torch.Tensor, sigma: float) -> torch.Tensor:
    """(h, w) `values` blurred as `swapper.smooth_maps` blurs on the CPU (out to 3 sigma,
    zeros beyond the border)."""
    radius = math.ceil(3 * sigma)
    taps = torch.arange(-radius, radius + 1, device=values.device, dtype=torch.float32)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    out = F.conv2d(values[None, None], kernel.view(1, 1, 1, -1), padding=(0, radius))
    return F.conv2d(out, kernel.view(1, 1, -1, 1), padding=(radius, 0))[0, 0]


def _sample(
    image: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mode: str, padding: str
) -> torch.Tensor:
    """`image` (channels, H, W) at pixel coordinates x, y (h, w): (channels, h, w)."""
    height, width = image.shape[1:]
    grid = torch.stack([2 * x / max(width - 1, 1) - 1, 2 * y / max(height - 1, 1) - 1], dim=-1)
    return F.grid_sample(
        image[None], grid[None], mode=mode, padding_mode=padding, align_corners=True
    )[0]


def render_on(
    device: torch.device,
    image: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    triangles: np.ndarray,
    texture_points: np.ndarray,
    texture_delta: np.ndarray,
    box: tuple[int, int, int, int],
    sigma: float,
    step: int = MAP_STEP,
) -> np.ndarray:
    """`swapper.render`'s face region, (bottom − top, right − left, 3) uint8, computed on
    `device`; `box` is (left, top, right, bottom) in crop pixels, `sigma` the smoothing. The
    maps are worked out on the same grid as `swapper.warp_maps` and resized alike."""
    height, width = box[3] - box[1], box[2] - box[0]
    grid, origin = map_grid(box, step)
    xs, ys = (
        torch.as_tensor(v, device=device).expand(grid) for v in grid_points(grid, origin, step)
    )
    points = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    corners = torch.as_tensor(dst[triangles], dtype=torch.float32, device=device)
    labels = triangle_labels_on(points, corners)
    labelled = labels >= 0

    def mapped(matrices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(coefficient_table(matrices), device=device)
        a, b, c, d, e, f = rows[torch.where(labelled, labels, len(matrices))].unbind(1)
        px, py = points.unbind(1)
        shape = xs.shape
        return (a * px + b * py + c).reshape(shape), (d * px + e * py + f).reshape(shape)

    sigma = sigma / step
    face_x, face_y = mapped(affine_maps(src, dst, triangles))
    face_x = xs + gaussian_blur(face_x - xs, sigma)  # see swapper.smooth_maps
    face_y = ys + gaussian_blur(face_y - ys, sigma)
    tex_x, tex_y = mapped(affine_maps(texture_points, dst, triangles))
    inside = labelled.reshape(xs.shape).float()
    spread = gaussian_blur(inside, sigma).clamp_min(1e-6)  # see swapper.smooth_maps
    tex_x = gaussian_blur(tex_x * inside, sigma) / spread
    tex_y = gaussian_blur(tex_y * inside, sigma) / spread
    maps = torch.stack([face_x, face_y, tex_x, tex_y, inside])
    if step > 1:
        maps = F.interpolate(maps[None], scale_factor=step, mode="bilinear", align_corners=False)[0]
    face_x, face_y, tex_x, tex_y, inside = maps[:, step : step + height, step : step + width]
    face = torch.as_tensor(image, device=device).permute(2, 0, 1).float()
    warped = _sample(face, face_x, face_y, "bicubic", "reflection").round().clamp(0, 255)
    texture = torch.as_tensor(texture_delta, dtype=torch.float32, device=device).permute(2, 0, 1)
    delta = _sample(texture, tex_x, tex_y, "bilinear", "zeros") * (inside >= 0.5)
    out = (warped + delta).clamp(0, 255).to(torch.uint8)  # truncated, as the CPU render
    return out.permute(1, 2, 0).cpu().numpy()
