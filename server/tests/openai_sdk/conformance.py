"""Pictor's AI API as the official OpenAI Python SDK sees it.

Run by the Rust test `openai_sdk::the_official_python_sdk_works_against_pictor` with a coordinator and a worker
serving the network's models; the base URL and keys come from the environment. Exits non-zero on the first failure.
"""

import os
import sys

import openai

BASE_URL = os.environ["PICTOR_BASE_URL"]
KEY = os.environ["PICTOR_KEY"]
BROKE_KEY = os.environ["PICTOR_BROKE_KEY"]
LIMITED_KEY = os.environ["PICTOR_LIMITED_KEY"]
CHAT = "smollm2-135m-instruct"
EMBEDDING = "all-minilm-l6-v2"

client = openai.OpenAI(base_url=BASE_URL, api_key=KEY, max_retries=0, timeout=60)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1
    print(f"ok: {what}")


# Models.
models = {model.id: model for model in client.models.list()}
check(CHAT in models and EMBEDDING in models, "models.list() lists both network models")
check(models[CHAT].owned_by == "pictor", "a network model is owned by pictor")
check(client.models.retrieve(CHAT).id == CHAT, "models.retrieve() finds a model")

# Chat, non-streaming.
messages = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
answer = client.chat.completions.create(model=CHAT, messages=messages, max_tokens=12, temperature=0)
check("Paris" in answer.choices[0].message.content, f"chat answer names Paris: {answer.choices[0].message.content!r}")
check(answer.choices[0].message.role == "assistant", "the answer is the assistant's")
check(answer.usage.prompt_tokens > 10 and 0 < answer.usage.completion_tokens <= 12, f"usage: {answer.usage}")
check(answer.id.startswith("chatcmpl-"), "a chat completion id")

# Chat, streaming with usage.
pieces, usage, finish = [], None, None
stream = client.chat.completions.create(
    model=CHAT,
    messages=[{"role": "user", "content": "Write a long story about a dragon."}],
    max_tokens=10,
    temperature=0.7,
    seed=3,
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
check(len(pieces) >= 3, f"the streamed answer came in pieces: {pieces!r}")
check(finish == "length", f"finish reason: {finish}")
check(usage is not None and usage.completion_tokens == 10, f"a final usage chunk: {usage}")

# Legacy completions.
completion = client.completions.create(model=CHAT, prompt="The capital of France is", max_tokens=4, temperature=0)
check("Paris" in completion.choices[0].text, f"completion: {completion.choices[0].text!r}")

# Embeddings: the SDK asks for base64 by default (and decodes it), float when told.
default = client.embeddings.create(model=EMBEDDING, input=["A man is eating food.", "A man eats bread."])
check(len(default.data) == 2 and len(default.data[0].embedding) == 384, "embeddings (default encoding) have 384 floats")
floats = client.embeddings.create(model=EMBEDDING, input="A man is eating food.", encoding_format="float")
check(len(floats.data[0].embedding) == 384, "embeddings with float encoding")
difference = max(abs(a - b) for a, b in zip(default.data[0].embedding, floats.data[0].embedding))
check(difference < 1e-4, f"base64 and float encodings agree (max difference {difference})")
check(default.usage.prompt_tokens > 4, "embeddings report their tokens")

# Typed errors.
try:
    openai.OpenAI(base_url=BASE_URL, api_key="pk_not-a-key", max_retries=0).models.list()
    check(False, "a bad key is refused")
except openai.AuthenticationError as error:
    check(error.status_code == 401, "401 AuthenticationError for a bad key")

try:
    openai.OpenAI(base_url=BASE_URL, api_key=BROKE_KEY, max_retries=0).chat.completions.create(
        model=CHAT, messages=messages, max_tokens=4
    )
    check(False, "a caller without credit is refused")
except openai.APIStatusError as error:
    check(error.status_code == 402, f"402 for a caller without credit ({type(error).__name__})")

try:
    client.chat.completions.create(model="gpt-9", messages=messages)
    check(False, "an unknown model is refused")
except openai.NotFoundError as error:
    check(error.status_code == 404, "404 NotFoundError for an unknown model")

limited = openai.OpenAI(base_url=BASE_URL, api_key=LIMITED_KEY, max_retries=0)
limited.embeddings.create(model=EMBEDDING, input="first")
try:
    limited.embeddings.create(model=EMBEDDING, input="second")
    check(False, "a key over its requests per minute is refused")
except openai.RateLimitError as error:
    check(error.status_code == 429, "429 RateLimitError over the key's requests per minute")

try:
    client.chat.completions.create(model=CHAT, messages=messages, temperature=5)
    check(False, "a bad parameter is refused")
except openai.BadRequestError as error:
    check(error.status_code == 400, "400 BadRequestError for temperature 5")

# Files for batches: uploaded, described, read back; a file with a bad line is a typed 400.
import json

lines = [
    {"custom_id": f"r{i}", "method": "POST", "url": "/v1/embeddings", "body": {"model": EMBEDDING, "input": f"text {i}"}}
    for i in range(3)
]
jsonl = "".join(json.dumps(line) + "\n" for line in lines).encode()
uploaded = client.files.create(file=("requests.jsonl", jsonl), purpose="batch")
check(uploaded.id.startswith("file-") and uploaded.bytes == len(jsonl), "files.create() keeps a batch file")
check(client.files.retrieve(uploaded.id).filename == "requests.jsonl", "files.retrieve() describes it")
check(client.files.content(uploaded.id).read() == jsonl, "files.content() gives the same bytes back")
try:
    client.files.create(file=("bad.jsonl", b"{not json}\n"), purpose="batch")
    check(False, "a file with a bad line is refused")
except openai.BadRequestError as error:
    check(error.status_code == 400 and "line 1" in str(error), "400 BadRequestError naming the bad line")

# The batch flow: files.create, batches.create, batches.retrieve until done, files.content of the output.
import time

batch = client.batches.create(
    input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h", metadata={"from": "sdk"}
)
check(batch.id.startswith("batch_") and batch.status == "in_progress", "batches.create() starts a batch")
check(batch.request_counts.total == 3 and batch.metadata == {"from": "sdk"}, "the batch counts its lines")
deadline = time.time() + 120
while batch.status not in ("completed", "failed", "cancelled", "expired") and time.time() < deadline:
    time.sleep(0.5)
    batch = client.batches.retrieve(batch.id)
check(batch.status == "completed" and batch.request_counts.completed == 3, "batches.retrieve() sees it complete")
output = [json.loads(line) for line in client.files.content(batch.output_file_id).text.splitlines()]
check(sorted(line["custom_id"] for line in output) == ["r0", "r1", "r2"], "the output file answers every line")
direct = client.embeddings.create(model=EMBEDDING, input="text 1")
from_batch = next(line for line in output if line["custom_id"] == "r1")["response"]["body"]["data"][0]["embedding"]
# The SDK asks the API for base64 (exact f32) while the line asked for JSON floats (shortest f32 text).
same = len(from_batch) == len(direct.data[0].embedding) and all(
    abs(a - b) <= 1e-7 * max(1.0, abs(b)) for a, b in zip(from_batch, direct.data[0].embedding)
)
check(same, "a batch line's vector equals the API's")
check(any(b.id == batch.id for b in client.batches.list()), "batches.list() lists it")
try:
    client.batches.cancel(batch.id)
    check(False, "a completed batch cannot be cancelled")
except openai.BadRequestError as error:
    check(error.status_code == 400, "400 BadRequestError cancelling a completed batch")
check(client.files.delete(uploaded.id).deleted, "files.delete() removes it")

print(f"openai {openai.__version__}: {checks} checks passed")
