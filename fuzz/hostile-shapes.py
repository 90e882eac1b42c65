#!/usr/bin/env python3
"""Writes DTS sources whose shape (not whose bytes) is hostile: one node with 100k properties, 100k amendments by
label or path, and so on. AFL++ mutates small inputs and rarely builds these, so they are timed by hand:
    fuzz/hostile-shapes.py /tmp/hostile
    for f in /tmp/hostile/*.dts; do time dotnet /tmp/iommulab-fuzz/bin/plain/IommuLab.Fuzz.dll dts --replay $f; done
docs/fuzzing.md lists the times measured and which shapes are still superlinear."""
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/hostile"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
os.makedirs(out, exist_ok=True)
shapes = {
    # 100k distinct property names in one node: the DTB strings block dedupes by suffix search.
    "props": "/dts-v1/;\n/ {\n" + "".join(f"p{i} = <1>;\n" for i in range(n)) + "};\n",
    "deletes": "/dts-v1/;\n/ {\n" + "".join(f"p{i} = <1>;\n" for i in range(n))
               + "".join(f"/delete-property/ p{i};\n" for i in range(n)) + "};\n",
    "nodes": "/dts-v1/;\n/ {\n" + "".join(f"n{i} {{ }};\n" for i in range(n)) + "};\n",
    # Amendments: dtc finds a label or path by walking the tree each time, and so do we.
    "labels": "/dts-v1/;\n/ {\n" + "".join(f"l{i}: n{i} {{ }};\n" for i in range(n)) + "};\n"
              + "".join(f"&l{i} {{ x; }};\n" for i in range(0, n, 3)),
    "paths": "/dts-v1/;\n/ {\n" + "".join(f"n{i} {{ }};\n" for i in range(n)) + "};\n"
             + "".join(f"&{{/n{i}}} {{ x; }};\n" for i in range(0, n, 2)),
    "amend": "/dts-v1/;\n/ { a { }; };\n" + "".join(f"/ {{ a {{ p{i} = <1>; }}; }};\n" for i in range(n // 2)),
    "refs": "/dts-v1/;\n/ {\n" + "".join(f"l{i}: n{i} {{ r = <&l{(i * 7) % n}>; }};\n" for i in range(n)) + "};\n",
    # One iommu-map with thousands of identical entries: overlap reports are bounded.
    "iommu-map": "/dts-v1/;\n/ { smmu: iommu { #iommu-cells = <1>; }; pcie { iommu-map = <"
                 + " ".join("0 &smmu 0 0x10" for _ in range(n // 10)) + ">; }; };\n",
}
for name, text in shapes.items():
    with open(os.path.join(out, f"{name}.dts"), "w") as f:
        f.write(text)
    print(f"{out}/{name}.dts: {len(text)} bytes")
