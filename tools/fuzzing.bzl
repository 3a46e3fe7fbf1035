"""kiln_fuzzer: a libFuzzer target that is also a corpus regression test."""

def kiln_fuzzer(name, srcs, deps, corpus):
    """A fuzz target `name` and `name`_corpus_test, which runs it over `corpus`.

    Built normally the target links //base:fuzz_main and replays its arguments; with
    --config=fuzz it links libFuzzer instead (tools/fuzz).
    """
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + select({
            "//:fuzzing": [],
            "//conditions:default": ["//base:fuzz_main"],
        }),
    )
    native.sh_test(
        name = name + "_corpus_test",
        srcs = ["//tools:run_fuzzer_corpus.sh"],
        args = ["$(location :" + name + ")", native.package_name() + "/" + corpus],
        data = [":" + name] + native.glob([corpus + "/*"]),
    )
