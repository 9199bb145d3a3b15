"""Builds fashion_core's compiled parsers (Cython); everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    # Compiler directives (language level, no bounds checks) are in the .pyx header.
    ext_modules=cythonize(
        [Extension("fashion_core.data._kernels", ["fashion_core/data/_kernels.pyx"], extra_compile_args=["-O3"])]
    )
)
