#!/usr/bin/env python3
"""Reference evaluator for `llm-expo sweep`: scores one model the way the ExPO paper searched α.

The paper (Zheng et al., "Model Extrapolation Expedites Alignment", ACL 2025) generated answers to the
UltraFeedback `test_gen` prompts with vLLM (T = 0.7, top_p = 0.9, top_k = 50, presence and frequency
penalties 0.1, seed 42, up to 2048 new tokens) and scored each (prompt, answer) with the reward model
weqweasdas/RM-Mistral-7B; the model's score is the mean reward. This script does that for the model the
sweep hands it and answers with the sweep's contract:

  in:  EXPO_MODEL   the model: a folder, or s3://bucket/prefix (downloaded first)
       EXPO_ALPHA   its α (0: the aligned model, the baseline): only reported
       EXPO_RESULT  where to write the answer: a file, or s3://bucket/key.json
  out: one JSON object, {"score": <mean reward>, ...other numbers}, written to EXPO_RESULT and printed as the
       last line of stdout. Everything else goes to stderr.

Generation runs in a child process (this script with --stage generate) so that vLLM's GPU memory is free
again before the reward model loads. Needs a GPU, vllm, transformers, datasets and (for s3://) boto3: the
image of deploy/evaluate/Dockerfile has them. Only the standard library is imported at the top, so that CI
can check this file without any of them.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

REWARD_MODEL = "weqweasdas/RM-Mistral-7B"
PROMPTS = "HuggingFaceH4/ultrafeedback_binarized"


def log(message):
    print(f"[evaluate α={os.environ.get('EXPO_ALPHA', '?')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prompts", default="ultrafeedback",
                   help="'ultrafeedback' (the test_gen split of %s) or a JSONL file of {\"prompt\": ...}" % PROMPTS)
    p.add_argument("--max-prompts", type=int, default=0, help="use the first N prompts (0: all)")
    p.add_argument("--reward-model", default=REWARD_MODEL)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--presence-penalty", type=float, default=0.1)
    p.add_argument("--frequency-penalty", type=float, default=0.1)
    p.add_argument("--max-tokens", type=int, default=2048)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tensor-parallel", type=int, default=0, help="GPUs for vLLM (0: every visible GPU)")
    p.add_argument("--batch-size", type=int, default=8, help="reward model batch size")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "expo-evaluate"),
                   help="where an s3:// model is downloaded")
    p.add_argument("--stage", choices=["all", "generate"], default="all", help=argparse.SUPPRESS)
    p.add_argument("--generations", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def s3_client():
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    # S3-compatible servers (MinIO, Ceph) behind an endpoint usually want path-style addressing.
    config = Config(s3={"addressing_style": "path"}) if endpoint else None
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def split_s3(location):
    bucket, _, key = location[len("s3://"):].partition("/")
    return bucket, key.rstrip("/")


def local_model(location, cache):
    """A folder holding the model: the location itself, or an s3:// prefix downloaded into the cache."""
    if not location.startswith("s3://"):
        return location
    bucket, prefix = split_s3(location)
    target = os.path.join(cache, bucket, prefix)
    os.makedirs(target, exist_ok=True)
    client = s3_client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/", Delimiter="/")
    for page in pages:
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix) + 1:]
            path = os.path.join(target, name)
            if not os.path.exists(path) or os.path.getsize(path) != obj["Size"]:
                log(f"downloading {obj['Key']} ({obj['Size']} bytes)")
                client.download_file(bucket, obj["Key"], path)
    return target


def load_prompts(source, limit):
    if source == "ultrafeedback":
        from datasets import load_dataset

        rows = load_dataset(PROMPTS, split="test_gen")
        prompts = [messages[0]["content"] for messages in rows["messages"]]
    else:
        with open(source, encoding="utf-8") as f:
            prompts = [json.loads(line)["prompt"] for line in f if line.strip()]
    return prompts[:limit] if limit > 0 else prompts


def generate(args):
    """Child process: vLLM answers to every prompt, one JSON line each, in args.generations."""
    import torch
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    prompts = load_prompts(args.prompts, args.max_prompts)
    inputs = [
        {"prompt_token_ids": tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)}
        for p in prompts
    ]
    llm = LLM(
        model=args.model,
        dtype="bfloat16",
        seed=args.seed,
        tensor_parallel_size=args.tensor_parallel or max(1, torch.cuda.device_count()),
    )
    sampling = SamplingParams(
        n=1,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        presence_penalty=args.presence_penalty,
        frequency_penalty=args.frequency_penalty,
        max_tokens=args.max_tokens,
        seed=args.seed,
    )
    log(f"generating {len(inputs)} answers with {args.model}")
    outputs = llm.generate(inputs, sampling)
    with open(args.generations, "w", encoding="utf-8") as f:
        for prompt, out in zip(prompts, outputs):
            answer = out.outputs[0]
            f.write(json.dumps({
                "prompt": prompt,
                "output": answer.text,
                "tokens": len(answer.token_ids),
                "finish_reason": answer.finish_reason,
            }) + "\n")


def rewards(generations, reward_model, batch_size):
    """The reward model's score of every (prompt, answer), in the chat format it was trained on."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reward_model)
    model = AutoModelForSequenceClassification.from_pretrained(
        reward_model, torch_dtype=torch.bfloat16, device_map="auto"
    ).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": g["prompt"]}, {"role": "assistant", "content": g["output"]}],
            tokenize=False,
        ).replace(tokenizer.bos_token or "", "")
        for g in generations
    ]
    scores = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True, truncation=True).to(model.device)
            scores.extend(model(**batch).logits[:, 0].float().tolist())
            log(f"scored {min(i + batch_size, len(texts))}/{len(texts)}")
    return scores


def summary(scores, generations, seconds):
    """The contract's answer: `score` (higher is better) and other numbers."""
    finite = [s for s in scores if math.isfinite(s)]
    if not finite:
        raise SystemExit("no finite reward: nothing to report")
    return {
        "score": statistics.fmean(finite),
        "reward_median": statistics.median(finite),
        "reward_std": statistics.pstdev(finite),
        "prompts": len(generations),
        "mean_tokens": statistics.fmean(g["tokens"] for g in generations) if generations else 0,
        "truncated": sum(g["finish_reason"] == "length" for g in generations) / max(1, len(generations)),
        "seconds": seconds,
    }


def answer(result, destination):
    """Writes the answer to EXPO_RESULT (a file or s3://bucket/key) and prints it as the last line of stdout."""
    text = json.dumps(result)
    if destination.startswith("s3://"):
        bucket, key = split_s3(destination)
        s3_client().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="application/json")
    elif destination:
        os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
        with open(destination, "w", encoding="utf-8") as f:
            f.write(text)
    print(text, flush=True)


def main(argv):
    args = parse_args(argv)
    if args.stage == "generate":
        generate(args)
        return
    model = os.environ.get("EXPO_MODEL")
    if not model:
        raise SystemExit("EXPO_MODEL is not set: run me from `llm-expo sweep --evaluate` or its Kubernetes Job")
    started = time.monotonic()
    folder = local_model(model, args.cache)
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "generations.jsonl")
        child = [sys.executable, os.path.abspath(__file__), "--stage", "generate", "--model", folder, "--generations", out]
        for flag in ("prompts", "max_prompts", "temperature", "top_p", "top_k", "presence_penalty",
                     "frequency_penalty", "max_tokens", "seed", "tensor_parallel"):
            child += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
        subprocess.run(child, check=True, stdout=sys.stderr)
        with open(out, encoding="utf-8") as f:
            generations = [json.loads(line) for line in f]
    scores = rewards(generations, args.reward_model, args.batch_size)
    answer(summary(scores, generations, time.monotonic() - started), os.environ.get("EXPO_RESULT", ""))


if __name__ == "__main__":
    main(sys.argv[1:])
