#!/usr/bin/python3
"""Write the bad-input corpus (tests/bad_inputs/): broken checkpoints and
odd images, each listed in cases.json with the command to run, the exit code
and a piece of the message vitlens must print. Deterministic; the output is
committed, so the suite needs no Python.

  /usr/bin/python3 tests/bad_inputs/make_corpus.py
"""
import io
import json
import os
import shutil
import struct
import sys

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, os.path.join(HERE, "..", "..", "models"))


def st_parts(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def st_bytes(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def model_dir(name, base="hf_vit_f32", safetensors=None, config=None):
    d = os.path.join(HERE, "models", name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(os.path.join(FIX, base), d)
    if safetensors is not None:
        open(os.path.join(d, "model.safetensors"), "wb").write(safetensors)
    if config is not None:
        open(os.path.join(d, "config.json"), "w").write(config if isinstance(config, str) else json.dumps(config))
    return f"models/{name}"


def main():
    shutil.rmtree(os.path.join(HERE, "models"), ignore_errors=True)
    shutil.rmtree(os.path.join(HERE, "images"), ignore_errors=True)
    os.makedirs(os.path.join(HERE, "images"))
    good = open(os.path.join(FIX, "hf_vit_f32", "model.safetensors"), "rb").read()
    header, data = st_parts(os.path.join(FIX, "hf_vit_f32", "model.safetensors"))
    cfg = json.load(open(os.path.join(FIX, "hf_vit_f32", "config.json")))
    img = "../fixtures/images/img0.png"
    cases = []

    def model_case(name, expect, code=3, **kw):
        cases.append({"name": name, "args": ["info", "--model", model_dir(name, **kw)], "code": code, "message": expect})

    # --- safetensors
    model_case("st_empty", "too short for a safetensors header", safetensors=b"")
    model_case("st_truncated_at_header", "too short for a safetensors header", safetensors=good[:6])
    model_case("st_truncated_in_header", "is larger than the", safetensors=good[:40])
    model_case("st_truncated_in_data", "run past the data section", safetensors=good[:len(good) - 100])
    model_case("st_header_len_beyond_file", "header length 1000000000", safetensors=struct.pack("<Q", 10**9) + good[8:])
    h = json.loads(json.dumps(header))
    k = "vit.encoder.layer.0.output.dense.bias"
    h[k]["data_offsets"] = [0, h[k]["data_offsets"][1] - h[k]["data_offsets"][0]]
    model_case("st_overlapping_offsets", "overlap", safetensors=st_bytes(h, data))
    h = json.loads(json.dumps(header))
    h[k]["data_offsets"] = [len(data), len(data) + 192]
    model_case("st_offsets_out_of_range", "run past the data section", safetensors=st_bytes(h, data))
    h = json.loads(json.dumps(header))
    h[k]["shape"] = [40]
    model_case("st_shape_dtype_mismatch", "needs 160 bytes, but data_offsets span 192", safetensors=st_bytes(h, data))
    h = json.loads(json.dumps(header))
    h[k]["dtype"] = "F33"
    model_case("st_unknown_dtype", "unknown dtype 'F33'", safetensors=st_bytes(h, data))
    for name, val in (("st_nan_weight", float("nan")), ("st_inf_weight", float("inf"))):
        a, _ = header["classifier.weight"]["data_offsets"]
        d = bytearray(data)
        d[a:a + 4] = struct.pack("<f", val)
        model_case(name, "tensor 'classifier.weight' holds a non-finite value", safetensors=st_bytes(header, bytes(d)))
    h = json.loads(json.dumps(header))
    h["vit.encoder.layer.1.intermediate.dense.weight"]["dtype"] = "I32"
    model_case("st_integer_weight", "has dtype I32; weights must be F32, F16 or BF16", safetensors=st_bytes(h, data))
    # --- configs
    model_case("cfg_empty", "not valid JSON", config="")
    model_case("cfg_not_json", "not valid JSON", config="{hidden_size: 48")
    model_case("cfg_no_architecture", "neither 'architectures' (Hugging Face) nor 'architecture' (timm)",
               config={k2: v for k2, v in cfg.items() if k2 != "architectures"})
    model_case("cfg_wrong_type", "'hidden_size' must be a number, got string", config=dict(cfg, hidden_size="48"))
    model_case("cfg_huge_hidden", "'hidden_size' = 1000000000.0 is out of range", config=dict(cfg, hidden_size=1e9))
    model_case("cfg_huge_depth", "'num_hidden_layers' = 100000 is out of range", config=dict(cfg, num_hidden_layers=100000))
    model_case("cfg_label_gap", "'id2label' has a gap: index 3 is missing",
               config=dict(cfg, id2label={str(i): f"c{i}" for i in (0, 1, 2, 4, 5, 6, 7)}))
    model_case("cfg_shape_vs_weights", "has shape [96, 48], expected [128, 48]", config=dict(cfg, intermediate_size=128))
    tcfg = json.load(open(os.path.join(FIX, "timm_f32", "config.json")))
    model_case("cfg_timm_missing_classes", "missing key 'num_classes'", base="timm_f32",
               config={k2: v for k2, v in tcfg.items() if k2 != "num_classes"})
    model_case("cfg_timm_bad_input_size", "pretrained_cfg.input_size must be [C, H, W]", base="timm_f32",
               config=dict(tcfg, pretrained_cfg=dict(tcfg["pretrained_cfg"], input_size=[32, 32])))

    # --- images: these must fail with exit 2 ...
    def image_case(name, data, code, expect, extra=()):
        p = os.path.join(HERE, "images", name)
        open(p, "wb").write(data)
        cases.append({"name": name, "args": ["classify", "--model", "../fixtures/hf_vit_f32", *extra, f"images/{name}"],
                      "code": code, "message": expect})

    image_case("empty.png", b"", 2, "empty file (0 bytes)")
    image_case("not_an_image.jpg", b"this is text, not a JPEG", 2, "not a decodable image")
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    p = bytearray(png.getvalue())
    p[16:24] = struct.pack(">II", 100000, 100000)  # IHDR claims 100k x 100k
    image_case("claims_100k_x_100k.png", bytes(p), 2, "100000x100000 = 10000000000 pixels, over the limit of 100000000 (--max-pixels)")
    image_case("truncated.png", png.getvalue()[:30], 2, "not a decodable image")

    # ... and these must work (exit 0)
    def works(name, im, fmt, **save):
        b = io.BytesIO()
        im.save(b, fmt, **save)
        image_case(name, b.getvalue(), 0, "")

    base = Image.open(os.path.join(FIX, "images", "wide.png")).convert("RGB")
    works("one_pixel.png", Image.new("RGB", (1, 1), (200, 10, 10)), "PNG")
    works("gray.png", base.convert("L"), "PNG")
    works("alpha.png", base.convert("RGBA"), "PNG")
    works("sixteen_bit.png", base.convert("L").point(lambda v: v * 256).convert("I;16") if False else
          Image.frombytes("I;16", base.size, bytes(b for v in base.convert("L").tobytes() for b in (0, v))), "PNG")
    works("cmyk.jpg", base.convert("CMYK"), "JPEG", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6
    works("exif_rotated.jpg", base, "JPEG", exif=exif.tobytes())

    json.dump(cases, open(os.path.join(HERE, "cases.json"), "w"), indent=1)
    print(f"{len(cases)} cases -> {HERE}/cases.json")


if __name__ == "__main__":
    main()
