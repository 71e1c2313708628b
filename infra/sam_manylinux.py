"""Lets `sam build` fetch wheels tagged for any glibc up to the runtime's (PEP 600), on both architectures.

aws-lambda-builders 1.68 (SAM CLI 1.170) asks pip for the manylinux 2_17, 2_28 and 2_34 tags only,
so a wheel tagged manylinux_2_27, as every ai-edge-litert 2.x wheel for aarch64 is, cannot be
fetched for an arm64 build (`PythonPipBuilder:ResolveDependencies - {ai-edge-litert==2.3.0(wheel)}`).
Its own compatibility check already accepts any glibc up to the runtime's (2.34 for python3.13);
this adds the missing tags in between to the list it hands pip, so the glibc guard is unchanged:
nothing newer than the runtime's glibc is ever accepted.

The Makefile installs this into the SAM CLI's environment (.venv-sam) with a .pth file, so that
`make sam-build` and the suite's `sam build` both get it; a plain `sam build` elsewhere lacks it.
"""
from __future__ import annotations

GLIBC_MINORS = range(17, 35)  # manylinux_2_17 .. manylinux_2_34 (Amazon Linux 2023: glibc 2.34)


def extend_platforms() -> None:
    try:
        from aws_lambda_builders.workflows.python_pip.packager import DependencyBuilder
    except ImportError:  # not installed (yet): nothing to extend
        return
    for arch, platforms in (("aarch64", DependencyBuilder._COMPATIBLE_PLATFORM_ARM64),
                            ("x86_64", DependencyBuilder._COMPATIBLE_PLATFORM_X86_64)):
        # In place (the builder also reaches these lists through another table), ordered by glibc:
        # the builder slices each up to the runtime's newest tag.
        platforms[:] = [p for p in platforms if not p.startswith("manylinux_2_")] + [
            f"manylinux_2_{minor}_{arch}" for minor in GLIBC_MINORS]


extend_platforms()
