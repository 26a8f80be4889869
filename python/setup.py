"""The version comes from the one place every binding reads it: engram.h."""
import os
import re

from setuptools import setup

_header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "native", "include", "engram.h")
with open(_header) as f:
    _version = re.search(r'#define ENGRAM_VERSION_STRING "([0-9.]+)"', f.read()).group(1)

setup(version=_version)
