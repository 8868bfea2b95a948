"""Generation backends for the rephrase stage, one interface: `generate(conversations) -> [Generation]`.

- `TransformersBackend`: the model in-process, batched `generate` (left padding), CUDA in bf16 (fp16 where
  bf16 is not supported) when present, float32 on CPU.
- `OpenAIBackend`: any OpenAI-compatible chat endpoint (vLLM, SGLang, TGI, llama.cpp's server,
  `transformers serve`) through the `openai` client's async API, with a concurrency cap, a deadline per
  request, and retries with exponential backoff; streamed or whole answers, and whole answers that a server
  sends as server-sent events anyway. A request that still fails comes back as a Generation with `error` set,
  never as a lost chunk or a hang.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict


@dataclass
class Generation:
    text: str | None
    tokens_in: int | None
    tokens_out: int | None
    finish_reason: str | None  # "stop", "length" (cut by max_new_tokens), or None when error is set
    error: str | None = None


class GenSettings(BaseModel):
    """What changes an answer, beside the model and the prompt: part of every cache key."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int

    def key(self) -> str:
        # the seed changes nothing when decoding is greedy, so it is left out of greedy keys
        d = self.model_dump()
        if self.temperature == 0:
            d.pop("seed")
        return json.dumps(d, sort_keys=True)


# -- in-process ---------------------------------------------------------------------------------------
def pick_device(device: str | None, dtype: str) -> tuple[str, "object"]:
    import torch
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype != "auto":
        return dev, getattr(torch, dtype)
    if dev.startswith("cuda"):
        return dev, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return dev, torch.float32


def quiet_progress() -> None:
    """No progress bars from transformers and the Hub (they draw "Loading weights 100%|...|" into the middle
    of gristmill's own progress lines); their warnings and errors still print."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # for libraries that read it on their own
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # transformers' tqdm wrapper, and huggingface_hub's bars with it


class TransformersBackend:
    def __init__(self, model_dir: str | Path, batch_size: int = 16, device: str | None = None, dtype: str = "auto"):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        quiet_progress()
        self.batch_size = batch_size
        self.device, torch_dtype = pick_device(device, dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.tokenizer.padding_side = "left"  # decoder-only: prompts end where generation starts
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype).to(self.device)
        self.model.eval()
        eos = self.model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        self.eos_ids = set(eos) | {self.tokenizer.eos_token_id}

    def render(self, conversations: list[list[dict]]) -> list[str]:
        return [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                for c in conversations]

    def raw_generate(self, prompts: list[str], s: GenSettings):
        """One batched `generate` over rendered prompts: (generated token ids, prompt lengths)."""
        import torch
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs = dict(max_new_tokens=s.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                      eos_token_id=sorted(self.eos_ids))
        if s.temperature > 0:
            torch.manual_seed(s.seed)
            kwargs.update(do_sample=True, temperature=s.temperature, top_p=s.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        return out[:, enc["input_ids"].shape[1]:].tolist(), enc["attention_mask"].sum(dim=1).tolist()

    def generate(self, conversations: list[list[dict]], settings: GenSettings) -> list[Generation]:
        prompts = self.render(conversations)
        # similar lengths in one batch waste less padding
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            gen_ids, n_in = self.raw_generate([prompts[i] for i in idx], settings)
            for i, ids, n in zip(idx, gen_ids, n_in):
                results[i] = self._one(ids, int(n), settings.max_new_tokens)
        return results

    def _one(self, ids: list[int], n_in: int, max_new_tokens: int) -> Generation:
        stop = next((k for k, t in enumerate(ids) if t in self.eos_ids), None)
        kept = ids if stop is None else ids[:stop]
        finish = "stop" if stop is not None or len(ids) < max_new_tokens else "length"
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        # the end token is a generated token too (OpenAI-compatible servers count it the same way)
        return Generation(text, n_in, len(kept) + (stop is not None), finish)


# -- OpenAI-compatible endpoint -----------------------------------------------------------------------
class EndpointSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 3
    backoff_s: float = 1.0
    stream: bool = False


def _retryable(exc: BaseException) -> bool:
    """Worth another try: timeouts, refused connections, overload and server errors; not a bad request."""
    import openai
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 425, 429) or exc.status_code >= 500
    return isinstance(exc, (asyncio.TimeoutError, openai.APIConnectionError, ConnectionError))


def parse_sse(body: str) -> tuple[str, str | None, dict | None]:
    """Text, finish reason and usage from a chat completion sent as server-sent events.

    >>> parse_sse('data: {"choices":[{"delta":{"content":"Hi"}}]}\\n\\ndata: {"choices":[{"delta":{},'
    ...           '"finish_reason":"stop"}]}\\n\\ndata: [DONE]\\n')
    ('Hi', 'stop', None)
    """
    parts, finish, usage = [], None, None
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        event = json.loads(data)
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            parts.append((choice.get("delta") or choice.get("message") or {}).get("content") or "")
            finish = choice.get("finish_reason") or finish
    return "".join(parts), finish, usage


class OpenAIBackend:
    def __init__(self, endpoint: EndpointSettings):
        self.endpoint = endpoint
        # one event loop and one client per worker, reused by every batch
        self.loop = asyncio.new_event_loop()
        self.client = None

    def _client(self):
        import openai
        if self.client is None:
            e = self.endpoint
            self.client = openai.AsyncOpenAI(base_url=e.base_url, api_key=os.environ.get(e.api_key_env) or "EMPTY",
                                             timeout=e.timeout_s, max_retries=0)  # we retry ourselves
        return self.client

    def generate(self, conversations: list[list[dict]], settings: GenSettings) -> list[Generation]:
        return self.loop.run_until_complete(self._all(conversations, settings))

    async def _all(self, conversations, settings):
        sem = asyncio.Semaphore(self.endpoint.concurrency)
        return await asyncio.gather(*(self._with_retries(sem, c, settings) for c in conversations))

    async def _with_retries(self, sem, messages, settings) -> Generation:
        e = self.endpoint
        last = None
        for attempt in range(e.max_retries + 1):
            if attempt:
                # exponential backoff with jitter, so workers that failed together do not retry together
                await asyncio.sleep(e.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()))
            try:
                async with sem:
                    # the client's timeout bounds each read; this bounds the whole answer (a slow stream)
                    return await asyncio.wait_for(self._request(messages, settings), timeout=e.timeout_s)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a retry or an error row
                last = exc
                if not _retryable(exc):
                    break
        return Generation(None, None, None, None,
                          error=f"{type(last).__name__}: {last} (after {attempt + 1} attempt(s) to {e.base_url})")

    async def _request(self, messages, s: GenSettings) -> Generation:
        e = self.endpoint
        kwargs = dict(model=e.model, messages=messages, max_tokens=s.max_new_tokens, temperature=s.temperature,
                      top_p=s.top_p)
        if s.temperature > 0:
            kwargs["seed"] = s.seed
        client = self._client()
        if e.stream:
            parts, finish, usage = [], None, None
            stream = await client.chat.completions.create(stream=True, stream_options={"include_usage": True},
                                                          **kwargs)
            async for chunk in stream:
                usage = chunk.usage or usage
                for choice in chunk.choices or []:
                    parts.append(choice.delta.content or "")
                    finish = choice.finish_reason or finish
            return Generation("".join(parts), usage and usage.prompt_tokens, usage and usage.completion_tokens,
                              finish)
        resp = await client.chat.completions.create(**kwargs)
        if isinstance(resp, str):  # some servers stream even when asked not to; the client hands back the body
            text, finish, usage = parse_sse(resp)
            usage = usage or {}
            return Generation(text, usage.get("prompt_tokens"), usage.get("completion_tokens"), finish)
        choice = resp.choices[0]
        usage = resp.usage
        return Generation(choice.message.content or "", usage and usage.prompt_tokens,
                          usage and usage.completion_tokens, choice.finish_reason)


def ping(endpoint: EndpointSettings) -> str | None:
    """None when the endpoint answers a one-token chat request for the model, else why not (run on the driver
    before Spark starts). Not GET /models: some servers (transformers serve offline) fail it while serving."""
    import httpx
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    key = os.environ.get(endpoint.api_key_env)
    body = {"model": endpoint.model, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}
    try:
        r = httpx.post(url, json=body, timeout=endpoint.timeout_s,
                       headers={"Authorization": f"Bearer {key}"} if key else {})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if r.status_code in (401, 403):
        return f"HTTP {r.status_code}: the key in ${endpoint.api_key_env} was refused"
    if r.status_code >= 400:
        return f"HTTP {r.status_code} for model {endpoint.model!r}: {r.text[:300]}"
    return None
