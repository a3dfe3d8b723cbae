"""The weak baseline: deliberately almost uninformative, standard library only.

Score = the mean byte value of the case's file divided by 255. It reads the contract
(`$ENCLAVE_INPUT/manifest.json`, `$ENCLAVE_OUTPUT/predictions.json`) and nothing else.
"""

import json
import os
from pathlib import Path


def mean_byte_score(path: Path) -> float:
    data = path.read_bytes()
    if not data:
        return 0.5
    return min(max(sum(data) / len(data) / 255.0, 0.0), 1.0)


def main() -> None:
    input_dir = Path(os.environ.get("ENCLAVE_INPUT", "/input"))
    output_dir = Path(os.environ.get("ENCLAVE_OUTPUT", "/output"))
    manifest = json.loads((input_dir / "manifest.json").read_text())
    predictions = {
        case["id"]: {"score": round(mean_byte_score(input_dir / case["files"][0]), 6)}
        for case in manifest["cases"]
    }
    (output_dir / "predictions.json").write_text(json.dumps(predictions, indent=1) + "\n")
    print(f"scored {len(predictions)} cases")


if __name__ == "__main__":
    main()
