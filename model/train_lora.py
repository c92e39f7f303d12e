"""LoRA fine-tuning of the base model on rendered tool-calling examples (runs on a GPU machine).

    python3 model/train_lora.py --gguf /tmp/m/model.gguf --tokenizer tokenizer.json \
        --data rendered.jsonl.gz --out adapter/ --seconds 300 --seed 7   (.jsonl.xz too)

Without a GPU it runs on the CPU in float32 (`--device cpu`; model/scripts/train-smoke.sh runs
a few steps on a tiny slice that way, to check the whole path before a GPU run).

Input lines are `{"prompt": ..., "completion": ...}` from `toolcall-render` (the engine's own
renderer); tokenized with the bundle's tokenizer.json through HF `tokenizers` (the library the
engine uses), so training and serving see identical ids. The loss covers the completion only.
Output: `adapter_config.json` + `adapter_model.safetensors` (PEFT, bfloat16) and
`train_log.json` (config, loss curve, throughput). Merge with
`python -m toolcall_model.build_bundle --lora adapter/`.
"""

import argparse
import gzip
import json
import lzma
import math
import os
import random
import time

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def load_examples(path, tokenizer, max_len):
    rows = []
    with (lzma.open if path.endswith(".xz") else gzip.open)(path, "rt") as f:
        for line in f:
            ex = json.loads(line)
            p = tokenizer.encode(ex["prompt"], add_special_tokens=False).ids
            c = tokenizer.encode(ex["completion"], add_special_tokens=False).ids
            ids = (p + c)[:max_len]
            labels = ([-100] * len(p) + c)[:max_len]
            rows.append((ids, labels))
    return rows


def batches(rows, batch_tokens, rng):
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]) + rng.random())
    out, cur, longest = [], [], 0
    for i in order:
        n = len(rows[i][0])
        if cur and max(longest, n) * (len(cur) + 1) > batch_tokens:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: the plan)")
    args = ap.parse_args()

    started = time.time()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer = Tokenizer.from_file(args.tokenizer)
    rows = load_examples(args.data, tokenizer, args.max_len)
    d, name = os.path.split(args.gguf)
    # bfloat16 on the GPU; float32 on the CPU, where bfloat16 matmuls are slow or missing
    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=dtype).to(args.device)
    model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0,
                                             target_modules=TARGETS, task_type="CAUSAL_LM"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    plan = []
    epochs = math.ceil(args.epochs)
    for _ in range(epochs):
        plan += batches(rows, args.batch_tokens, rng)
    plan = plan[: int(len(plan) * args.epochs / epochs)]
    if args.max_steps:
        plan = plan[: args.max_steps]
    warmup = max(1, len(plan) // 30)
    log, tokens, step = [], 0, 0
    train_start = time.time()
    model.train()
    for step, batch in enumerate(plan):
        elapsed = time.time() - train_start
        if elapsed > args.seconds:
            break
        # linear warm-up, then linear decay to 10% over the planned steps or the time budget,
        # whichever runs out first (so a run cut by --seconds still ends at the low rate)
        frac = max(step / len(plan), elapsed / args.seconds)
        lr = args.lr * min(1.0, (step + 1) / warmup) * max(0.1, 1.0 - frac)
        for g in opt.param_groups:
            g["lr"] = lr
        width = max(len(rows[i][0]) for i in batch)
        ids = torch.full((len(batch), width), 2, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for j, i in enumerate(batch):
            x, y = rows[i]
            ids[j, : len(x)] = torch.tensor(x)
            labels[j, : len(y)] = torch.tensor(y)
            mask[j, : len(x)] = 1
        out = model(input_ids=ids.to(args.device), attention_mask=mask.to(args.device), labels=labels.to(args.device))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        if step % 20 == 0:
            log.append({"step": step, "loss": round(out.loss.item(), 4), "lr": lr, "seconds": round(elapsed, 1)})
            print(log[-1], flush=True)
    train_seconds = time.time() - train_start

    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out)
    weights_path = os.path.join(args.out, "adapter_model.safetensors")
    weights = {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(weights_path).items()}
    save_file(weights, weights_path)
    summary = {
        "config": vars(args), "examples": len(rows), "planned_steps": len(plan), "steps_done": step + 1,
        "train_tokens": tokens, "train_seconds": round(train_seconds, 1),
        "tokens_per_second": round(tokens / max(train_seconds, 1e-9)),
        "total_seconds": round(time.time() - started, 1), "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else args.device,
        "torch": torch.__version__, "loss_curve": log,
    }
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "loss_curve"}), flush=True)


if __name__ == "__main__":
    main()
