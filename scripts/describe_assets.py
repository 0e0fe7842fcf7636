"""Print what `cdk synth` built: each Lambda function's target, packages, size and native files."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


def machine_of(path: Path) -> str:
    head = path.read_bytes()[:20]
    if head[:4] == b"\x7fELF":
        return ELF_MACHINES.get(int.from_bytes(head[18:20], "little"), "other-elf")
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return "mach-o"
    return "not-elf"


def describe(cdk_out: Path) -> int:
    problems = 0
    for template in sorted(cdk_out.glob("*.template.json")):
        resources = json.loads(template.read_text())["Resources"]
        for logical_id, res in sorted(resources.items()):
            if res["Type"] != "AWS::Lambda::Function" or "aws:asset:path" not in res.get("Metadata", {}):
                continue
            props = res["Properties"]
            asset = cdk_out / res["Metadata"]["aws:asset:path"]
            arch = (props.get("Architectures") or ["x86_64"])[0]
            dists = sorted(p.name[: -len(".dist-info")] for p in asset.glob("*.dist-info"))
            files = [p for p in asset.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files)
            natives = Counter(machine_of(p) for p in files if ".so" in p.name)
            want = "aarch64" if arch == "arm64" else "x86_64"
            unwanted = [d for d in dists if d.rsplit("-", 1)[0].lower().replace("_", "-") in
                        ("boto3", "botocore", "aws-cdk-lib", "aws_cdk_lib", "constructs", "jsii", "appnope")]
            ok = set(natives) <= {want} and not unwanted
            problems += not ok
            print(f"{template.name.split('.')[0]}/{logical_id}: {props['Runtime']} {arch} handler={props['Handler']}")
            print(f"  asset   {asset.name}  {len(files)} files, {size / 1e6:.1f} MB")
            print(f"  packages ({len(dists)}): {', '.join(dists)}")
            print(f"  shared objects: {dict(natives) or 'none'}  (target {want})"
                  + ("" if ok else f"  PROBLEM: unwanted={unwanted}"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(describe(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out")))
