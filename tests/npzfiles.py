"""``.npz`` archives written as a hostile or careless tool would: any members, the same name
twice, arrays of any dtype (objects too), headers that declare more than the member holds."""
import io
import zipfile

import numpy as np
from numpy.lib import format as npy


def arrays(path) -> dict[str, np.ndarray]:
    """The arrays of a well-formed archive."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def npy_bytes(value) -> bytes:
    """``value`` as a .npy member, pickled if it holds objects (np.savez would refuse nothing either)."""
    buf = io.BytesIO()
    npy.write_array(buf, np.asanyarray(value), allow_pickle=True)
    return buf.getvalue()


def declared(shape, dtype="<f8", body=b"") -> bytes:
    """A .npy member whose header declares ``shape`` but which holds only ``body``."""
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue() + body


def write(path, content: dict, extra=(), compress=False):
    """Write ``content`` (name -> array) as NAME.npy members, then ``extra`` (member name, bytes)
    as they are; duplicates are kept."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as z:
        for name, value in content.items():
            z.writestr(f"{name}.npy", npy_bytes(value))
        for name, data in extra:
            z.writestr(name, data)
    return path
