"""Which stages of a Dockerfile the agent pushes as cache images: those the final stage is built from, found
through FROM, COPY --from and RUN --mount=from, by name or by number; never one nothing needs."""
import pytest

from runners import dockerfile_stages as ds

pytestmark = pytest.mark.unit

REALISTIC = """# syntax-free, as bench/realistic.py writes it
FROM base AS deps
WORKDIR /deps
COPY requirements.txt install-deps.sh ./
RUN --mount=type=cache,id=x,target=/cache \\
    sh install-deps.sh requirements.txt /cache /deps/site

FROM base AS build
COPY src /src
RUN sh /src/build.sh /src /out/www

FROM base AS test
COPY --from=deps /deps/site /site
RUN run-the-tests

FROM base
COPY --from=deps /deps/site /app/site
COPY --from=build /out/www /www
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def test_the_stages_the_final_stage_copies_from_and_not_a_test_stage_nothing_needs():
    assert ds.needed(REALISTIC) == (["deps", "build"], [])


def test_a_single_stage_dockerfile_needs_none():
    assert ds.needed("FROM base\nRUN make\n") == ([], [])
    assert ds.needed("") == ([], [])


def test_needs_are_followed_through_from_a_stage_mounts_and_numbers_and_names_are_case_insensitive():
    text = """FROM --platform=$BUILDPLATFORM base AS Toolchain
RUN make tools
FROM toolchain AS compile
RUN --mount=type=bind,from=assets,target=/a make
FROM base AS assets
FROM base
RUN --mount=type=cache,target=/c --mount=type=bind,from=COMPILE,source=/out,target=/o cp -r /o /app
COPY --from=0 /tools /tools
COPY --from=registry.example/other:1 /x /x
"""
    # `assets` is defined after `compile`'s mount names it: BuildKit reads that as an image, and so does this
    assert ds.needed(text) == (["toolchain", "compile"], [])


def test_a_needed_stage_without_a_name_is_reported_apart():
    text = "FROM base\nRUN make\nFROM base AS assets\nFROM base\nCOPY --from=0 /a /a\nCOPY --from=assets / /\n"
    assert ds.needed(text) == (["assets"], [0])


def test_continuations_comments_and_the_escape_directive():
    text = "# escape=`\nFROM base AS deps\nFROM base\n# a comment\nCOPY `\n  # inside\n  --from=deps `\n  /a /a\n"
    assert ds.instructions(text)[-1] == "COPY --from=deps /a /a"
    assert ds.needed(text) == (["deps"], [])
