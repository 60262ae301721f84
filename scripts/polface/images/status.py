"""The manifest statuses of a photograph, defined once for loading and cropping.

``ok``              a face was found and cropped.
``no_face``         the detector found no face.
``multiple_faces``  several faces and ``multiple="skip"``.
``unreadable``      missing, empty, not an image, corrupt or truncated, or detection failed;
                    an image format outside ``polface.images.load.ALLOWED_FORMATS``; not a
                    regular file (a FIFO, a device) or a symlink out of the image folder (never
                    opened). ``detail`` says which.
``too_small``       the image, or every face in it, is below ``min_face`` pixels.
``too_large``       more pixels than ``max_pixels`` (Pillow's decompression-bomb guard by default).
"""

from __future__ import annotations

STATUS_OK = "ok"
STATUS_NO_FACE = "no_face"
STATUS_MULTIPLE = "multiple_faces"
STATUS_UNREADABLE = "unreadable"
STATUS_TOO_SMALL = "too_small"
STATUS_TOO_LARGE = "too_large"

#: Every status, in the order the logs and tables list them.
STATUSES = (
    STATUS_OK,
    STATUS_NO_FACE,
    STATUS_MULTIPLE,
    STATUS_UNREADABLE,
    STATUS_TOO_SMALL,
    STATUS_TOO_LARGE,
)
