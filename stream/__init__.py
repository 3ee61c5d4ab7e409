"""Sources, sinks, overlay and the command line.

OpenCV is imported before PyAV, always: with PyAV's bundled FFmpeg libraries loaded first,
OpenCV's own (and its Qt) misbehave, and the preview window's first `cv2.imshow` spins forever
(seen under Xvfb: `import av, cv2` hangs there, `import cv2, av` does not).
"""

import cv2  # noqa: F401  (first: see above)
