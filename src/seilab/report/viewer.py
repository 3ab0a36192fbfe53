"""The report's 3-D view of the interface: the first and last frames of the production trajectory.

Frames are read here, not with ``seilab.analysis.trajectory`` (a stage's reader also carries that
stage's unwrapping and caching machinery), but with the MD layer's one dump reader
(:mod:`seilab.md.dump`, below every stage): a LAMMPS text dump is indexed into frames by its structure
(:func:`~seilab.md.dump.dump_frame_spans`, no parsing of atom rows), and only the two frames shown are
parsed (:func:`~seilab.md.dump.read_dump_frame`: the ``element`` column, else the type map from the run
folder's ``structure.data`` ``Masses`` comments); an extended-XYZ trajectory (the ASE engine's
``trajectory.extxyz``) is read with ASE's reader.

The viewer is 3Dmol.js (``vendor/3Dmol-min.js``, see ``vendor/README.md``), inlined in the page: it
needs no network when the page is opened. Atoms are coloured by element with the colours of the
analysis stage's snapshot figure (:data:`ELEMENT_COLORS`).
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

#: 3Dmol.js version vendored in ``vendor/`` (npm package ``3dmol``)
VIEWER_VERSION = "2.5.5"

#: Element colours: the same as the interface snapshots (``analysis/snapshots.png``) of the analysis stage
#: (``seilab.analysis.figures._ELEMENT_COLORS``; tests/report checks they agree); others fall back to grey.
ELEMENT_COLORS = {"Li": "#7b68ee", "Na": "#ab5cf2", "K": "#8f40d4", "P": "#ff8000", "S": "#e6c200",
                  "O": "#ff0d0d", "F": "#90e050", "Cl": "#1ff01f", "Se": "#ffa100", "N": "#3050f8"}

#: Above this many atoms a frame is thinned (every k-th atom) so that the page stays light.
MAX_ATOMS = 30_000


def viewer_js() -> str:
    """The vendored, minified 3Dmol.js."""
    return (resources.files("seilab.report") / "vendor" / "3Dmol-min.js").read_text(encoding="utf-8")


def _specorder(run_dir: Path) -> list[str] | None:
    """Element of each LAMMPS type from ``structure.data``'s ``Masses`` comments (``1 6.94 # Li``)."""
    data = run_dir / "structure.data"
    if not data.is_file():
        return None
    order, in_masses = {}, False
    for line in data.read_text(errors="replace").splitlines():
        s = line.strip()
        if s == "Masses":
            in_masses = True
            continue
        if in_masses and s and not s[0].isdigit():
            break
        if in_masses and "#" in s:
            head, el = s.split("#", 1)
            order[int(head.split()[0])] = el.strip()
    return [order[k] for k in sorted(order)] or None


def read_end_frames(path: str | Path) -> list[dict]:
    """The first and last frames of a trajectory: ``[{"index", "step", "symbols", "positions", "cell", "n_frames"}]``
    (one entry when the trajectory has one frame)."""
    from ase.io import read

    path = Path(path)
    if path.suffix in (".extxyz", ".xyz"):
        first = read(str(path), index=0)
        last = read(str(path), index=-1)
        frames = [(0, first), (-1, last)]
        n = None
    else:
        from seilab.md.dump import dump_frame_spans, read_dump_frame

        spans = dump_frame_spans(path)
        if not spans:
            raise ValueError(f"{path}: no frames")
        spec = _specorder(path.parent)
        frames, n = [], len(spans)
        for k in sorted({0, n - 1}):
            atoms = read_dump_frame(path, spans[k], specorder=spec)
            atoms.info["step"] = atoms.info["timestep"]
            frames.append((k, atoms))
    out = []
    for k, atoms in frames:
        out.append({"index": k, "step": atoms.info.get("step"), "symbols": atoms.get_chemical_symbols(),
                    "positions": atoms.get_positions(wrap=True) if atoms.pbc.any() else atoms.get_positions(),
                    "cell": atoms.cell.array.tolist(), "n_frames": n})
    if len(out) == 2 and n == 1:
        out = out[:1]
    return out


def _xyz(frame: dict) -> tuple[str, int]:
    sym, pos = frame["symbols"], frame["positions"]
    stride = max(1, -(-len(sym) // MAX_ATOMS))
    rows = [f"{s} {p[0]:.3f} {p[1]:.3f} {p[2]:.3f}" for s, p in zip(sym[::stride], pos[::stride])]
    return f"{len(rows)}\nframe\n" + "\n".join(rows) + "\n", stride


def viewer_html(frames: list[dict], labels: list[str], source_link: str) -> str:
    """Two 3Dmol viewers side by side (first and last frame) and the script that draws them."""
    elements = sorted({s for f in frames for s in f["symbols"]})
    colors = {e: ELEMENT_COLORS.get(e, "#909090") for e in elements}
    legend = " ".join(f"<span class='sw' style='background:{c}'></span>{html.escape(e)}" for e, c in colors.items())
    cells, data = [], []
    for k, (f, lab) in enumerate(zip(frames, labels)):
        xyz, stride = _xyz(f)
        data.append({"id": f"view3d-{k}", "xyz": xyz, "cell": f["cell"]})
        thin = f" (every {stride}th atom)" if stride > 1 else ""
        cells.append(f"<figure class='v3d'><div id='view3d-{k}' class='viewer3d' data-atoms='{len(f['symbols'])}'>"
                     f"</div><figcaption>{html.escape(lab)}: {len(f['symbols'])} atoms{thin}</figcaption></figure>")
    script = ("(function(){var D=" + json.dumps({"views": data, "colors": colors}) + ";"
              "D.views.forEach(function(v){var el=document.getElementById(v.id);"
              "try{if(typeof $3Dmol==='undefined'){throw new Error('3Dmol.js did not load');}"
              "var w=$3Dmol.createViewer(el,{backgroundColor:'white'});"
              "if(!w){throw new Error('WebGL unavailable');}"
              "w.addModel(v.xyz,'xyz');"
              "Object.keys(D.colors).forEach(function(e){w.setStyle({elem:e},{sphere:{radius:0.7,color:D.colors[e]}});});"
              "var c=v.cell,o={x:0,y:0,z:0};"
              "var P=function(a,b,g){return {x:a*c[0][0]+b*c[1][0]+g*c[2][0],y:a*c[0][1]+b*c[1][1]+g*c[2][1],"
              "z:a*c[0][2]+b*c[1][2]+g*c[2][2]};};"
              "[[0,0,0,1,0,0],[0,0,0,0,1,0],[0,0,0,0,0,1],[1,0,0,1,1,0],[1,0,0,1,0,1],[0,1,0,1,1,0],[0,1,0,0,1,1],"
              "[0,0,1,1,0,1],[0,0,1,0,1,1],[1,1,0,1,1,1],[1,0,1,1,1,1],[0,1,1,1,1,1]].forEach(function(e){"
              "w.addLine({start:P(e[0],e[1],e[2]),end:P(e[3],e[4],e[5]),color:'#444444'});});"
              "w.rotate(-90,'x');w.zoomTo();w.render();el.setAttribute('data-rendered','yes');}"
              "catch(err){el.setAttribute('data-rendered','no');el.innerHTML='<p class=\"missing\">3-D view not drawn: '"
              "+String(err.message||err)+'</p>';}});})();")
    return (f"<p class='src'>frames from <a href='{html.escape(source_link)}'><code>{html.escape(source_link.lstrip('./'))}"
            f"</code></a>; drag to rotate, scroll to zoom; colour by element: {legend}; "
            f"viewer: 3Dmol.js {VIEWER_VERSION} (inlined)</p><div class='views'>{''.join(cells)}</div>"
            f"<script>{script}</script>")
