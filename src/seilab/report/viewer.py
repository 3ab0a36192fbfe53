"""The report's 3-D view of the interface: the first and last frames of the production trajectory.

Frames are read here, not with ``seilab.analysis.trajectory`` (a stage's reader also carries that
stage's unwrapping and caching machinery), but with the MD layer's one dump reader
(:mod:`seilab.md.dump`, below every stage): a LAMMPS text dump is indexed into frames by its structure
(:func:`~seilab.md.dump.dump_frame_spans`, no parsing of atom rows), and only the two frames shown are
parsed (:func:`~seilab.md.dump.read_dump_frame`: the ``element`` column, else the type map from the run
folder's ``structure.data`` ``Masses`` comments); an extended-XYZ trajectory (the ASE engine's
``trajectory.extxyz``) is cut into its complete frames (``seilab.dynamics.extxyz_frame_spans``) and the
two shown are parsed with ASE's reader. Atoms are in atom-id order, as the analysis stage has them.

The viewer is 3Dmol.js (``vendor/3Dmol-min.js``, see ``vendor/README.md``), inlined in the page: it
needs no network when the page is opened. A control switches the colouring of both frames between
element and identified phase; both palettes are :mod:`seilab.palette`, the one the analysis figures use
(snapshots; phase map and layer stack). The phase of an atom is read from ``analysis.json``
(``phases.atoms``, see :func:`frame_phases`): the analysis writes it for its first and last analysed
frames, each atom taking the phase identified for its z bin.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
from importlib import resources
from pathlib import Path

import numpy as np

from seilab.palette import ELEMENT_COLORS, UNBINNED_COLOR, element_color, phase_colors

#: 3Dmol.js version vendored in ``vendor/`` (npm package ``3dmol``)
VIEWER_VERSION = "2.5.5"

__all__ = ["ELEMENT_COLORS", "VIEWER_VERSION", "MAX_ATOMS", "viewer_js", "read_end_frames", "frame_phases",
           "viewer_html"]

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


def _extxyz_frames(path: Path) -> tuple[list[tuple[int, object]], int]:
    """The first and last complete frames of an extended-XYZ file (``seilab.dynamics.extxyz_frame_spans``:
    the complete frames, as the analysis reads them) and the number of frames."""
    from ase.io import read

    from seilab.dynamics import extxyz_frame_spans

    spans = extxyz_frame_spans(path)
    if not spans:
        raise ValueError(f"{path}: no complete extxyz frame")
    out = []
    with open(path, "rb") as fh:
        for k in sorted({0, len(spans) - 1}):
            fh.seek(spans[k][0])
            text = fh.read(spans[k][1] - spans[k][0]).decode()
            atoms = read(io.StringIO(text), format="extxyz", index=0)
            if "id" in atoms.arrays:  # atom-id order, as every reader of the package (and ASE's dump reader)
                atoms = atoms[np.argsort(atoms.arrays["id"], kind="stable")]
            atoms.info.setdefault("step", atoms.info.get("timestep"))
            out.append((k, atoms))
    return out, len(spans)


def read_end_frames(path: str | Path) -> list[dict]:
    """The first and last frames of a trajectory: ``[{"index", "step", "symbols", "positions", "cell", "n_frames"}]``
    (one entry when the trajectory has one frame); ``index`` is the frame's position in the file, atoms are
    in atom-id order."""
    path = Path(path)
    if path.suffix in (".extxyz", ".xyz"):
        frames, n = _extxyz_frames(path)
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
    return out


def _symbols_sha1(symbols) -> str:
    """As the analysis stage hashes the atom order its labels belong to (``phases.atoms.symbols_sha1``)."""
    return hashlib.sha1(" ".join(str(x) for x in symbols).encode()).hexdigest()


def frame_phases(frames: list[dict], analysis: dict | None, trajectory_matches: str | None = None) -> dict:
    """Per-atom phase labels of the shown ``frames``, from the analysis stage's ``analysis.json``.

    The analysis writes, for its first and last analysed frames, each atom's phase: the phase identified
    for the atom's z bin (``phases.atoms``). A frame gets those labels only when the analysis labelled
    that very frame (same position in the file, same step, same number of atoms and the same element
    sequence in atom-id order); otherwise it gets the reason. ``trajectory_matches``: None when
    ``analysis.json`` is of the trajectory shown, else why not.

    Returns ``{"names", "codes" (code -> name), "colors" (code -> colour), "bin_width_A", "why" (None, or why
    no frame has labels), "frames": [{"labels": str | None, "why": str | None}]}``.
    """
    out = {"names": [], "codes": {}, "colors": {}, "bin_width_A": None, "why": None,
           "frames": [{"labels": None, "why": None} for _ in frames]}

    def none(why: str) -> dict:
        out["why"] = why
        for f in out["frames"]:
            f["why"] = why
        return out

    if analysis is None:
        return none("the analysis stage has not run (no analysis/analysis.json)")
    if trajectory_matches is not None:
        return none(trajectory_matches)
    phases = analysis.get("phases") or {}
    if "atoms" not in phases:
        return none("analysis/analysis.json has no per-atom phase labels (phases.atoms; it was written by an "
                    "older seilab): rerun the analysis stage")
    atoms = phases["atoms"]
    if not atoms or not atoms.get("frames"):
        return none("the analysis wrote no per-atom phase labels (phases.atoms is empty: more phases than label codes)")
    names = list(phases.get("names") or [])
    edges = (analysis.get("bins") or {}).get("edges_A") or []
    out["names"], out["codes"] = names, dict(atoms.get("codes") or {})
    out["bin_width_A"] = float(edges[1] - edges[0]) if len(edges) > 1 else None
    pal = phase_colors(names)
    out["colors"] = {c: UNBINNED_COLOR if c == "-" else pal.get(n, UNBINNED_COLOR) for c, n in out["codes"].items()}
    by_frame = {int(e["frame"]): e for e in atoms["frames"]}
    for f, slot in zip(frames, out["frames"]):
        e = by_frame.get(int(f["index"]))
        if e is None:
            slot["why"] = (f"frame {f['index']} of the trajectory was not analysed (the analysis labelled frames "
                           f"{', '.join(str(k) for k in sorted(by_frame))}: its start_frame / stop_frame / stride)")
        elif e.get("step") is not None and f.get("step") is not None and int(e["step"]) != int(f["step"]):
            slot["why"] = f"the analysis's frame {f['index']} is step {e['step']}, the trajectory's is step {f['step']}"
        elif int(e.get("n_atoms", -1)) != len(f["symbols"]) or len(e.get("labels") or "") != len(f["symbols"]):
            slot["why"] = (f"the analysis labelled {e.get('n_atoms')} atoms in frame {f['index']}, the trajectory "
                           f"has {len(f['symbols'])}")
        elif e.get("symbols_sha1") != _symbols_sha1(f["symbols"]):
            slot["why"] = (f"the element sequence of frame {f['index']} differs from the one the analysis labelled "
                           "(another atom order or type map)")
        elif set(e["labels"]) - set(out["codes"]):
            slot["why"] = f"unknown label codes in frame {f['index']}: {''.join(sorted(set(e['labels']) - set(out['codes'])))}"
        else:
            slot["labels"] = e["labels"]
    if all(s["labels"] is None for s in out["frames"]):
        out["why"] = "; ".join(dict.fromkeys(s["why"] for s in out["frames"]))
    return out


def _xyz(frame: dict) -> tuple[str, int]:
    sym, pos = frame["symbols"], frame["positions"]
    stride = _stride(frame)
    rows = [f"{s} {p[0]:.3f} {p[1]:.3f} {p[2]:.3f}" for s, p in zip(sym[::stride], pos[::stride])]
    return f"{len(rows)}\nframe\n" + "\n".join(rows) + "\n", stride


def _stride(frame: dict) -> int:
    return max(1, -(-len(frame["symbols"]) // MAX_ATOMS))


#: the page's script: draws each view, and the colouring control switches every view between element
#: and phase colours (a view without phase labels keeps its element colours and shows why)
_SCRIPT = """(function(){var D=%s;
function byElement(w){Object.keys(D.colors).forEach(function(e){w.setStyle({elem:e},{sphere:{radius:0.7,color:D.colors[e]}});});}
function byPhase(w,s){var pal=D.phase.colors;w.setStyle({},{sphere:{radius:0.7,colorfunc:function(a){
var c=pal[s.charAt(a.index)];return c===undefined?'#ff00ff':c;}}});}
function paint(v,mode){var el=document.getElementById(v.id),note=document.getElementById(v.id+'-note');
var phase=(mode==='phase'&&!!v.phase);if(note){note.hidden=!(mode==='phase'&&!v.phase);}
if(!v.w){return;}if(phase){byPhase(v.w,v.phase);}else{byElement(v.w);}v.w.render();
el.setAttribute('data-colour',phase?'phase':'element');}
function setMode(mode){D.views.forEach(function(v){paint(v,mode);});
['element','phase'].forEach(function(m){var l=document.getElementById('view3d-legend-'+m);if(l){l.hidden=(m!==mode);}});
document.getElementById('view3d-control').setAttribute('data-colour',mode);}
D.views.forEach(function(v){var el=document.getElementById(v.id);
try{if(typeof $3Dmol==='undefined'){throw new Error('3Dmol.js did not load');}
var w=$3Dmol.createViewer(el,{backgroundColor:'white'});
if(!w){throw new Error('WebGL unavailable');}
w.addModel(v.xyz,'xyz');var c=v.cell;
var P=function(a,b,g){return {x:a*c[0][0]+b*c[1][0]+g*c[2][0],y:a*c[0][1]+b*c[1][1]+g*c[2][1],
z:a*c[0][2]+b*c[1][2]+g*c[2][2]};};
[[0,0,0,1,0,0],[0,0,0,0,1,0],[0,0,0,0,0,1],[1,0,0,1,1,0],[1,0,0,1,0,1],[0,1,0,1,1,0],[0,1,0,0,1,1],
[0,0,1,1,0,1],[0,0,1,0,1,1],[1,1,0,1,1,1],[1,0,1,1,1,1],[0,1,1,1,1,1]].forEach(function(e){
w.addLine({start:P(e[0],e[1],e[2]),end:P(e[3],e[4],e[5]),color:'#444444'});});
v.w=w;byElement(w);w.rotate(-90,'x');w.zoomTo();w.render();el.setAttribute('data-rendered','yes');
el.setAttribute('data-colour','element');}
catch(err){el.setAttribute('data-rendered','no');el.innerHTML='<p class="missing">3-D view not drawn: '
+String(err.message||err)+'</p>';}});
Array.prototype.forEach.call(document.querySelectorAll('input[name=view3d-colour]'),function(r){
r.addEventListener('change',function(){if(r.checked){setMode(r.value);}});});
document.getElementById('view3d-control').setAttribute('data-colour','element');})();"""


def _sw(color: str) -> str:
    return f"<span class='sw' style='background:{color}'></span>"


def _phase_legend(phases: dict, frames: list[dict]) -> str:
    """The phases present in the labelled frames, in the analysis's order, with their atom counts per frame."""
    labelled = [(f, s["labels"]) for f, s in zip(frames, phases["frames"]) if s["labels"] is not None]
    present = [c for c in phases["codes"] if any(c in lab for _, lab in labelled)]
    words = {".": "vacuum (a z bin with too few atoms)", "-": "in no z bin (beyond the analysed range)"}
    items = []
    for c in present:
        counts = " → ".join(str(lab.count(c)) for _, lab in labelled)
        items.append(f"<span class='lg' data-code='{html.escape(c)}'>{_sw(phases['colors'][c])}"
                     f"{html.escape(words.get(c, phases['codes'][c]))} <span class='small'>({counts})</span></span>")
    which = " → ".join("first" if f is frames[0] else "last" for f, _ in labelled)
    return " ".join(items) + f" <span class='small'>(atoms per phase: {which} frame)</span>"


def viewer_html(frames: list[dict], labels: list[str], source_link: str, phases: dict | None = None,
                caption: str = "") -> str:
    """Two 3Dmol viewers side by side (first and last frame), the colouring control (element / identified
    phase) with its legends, the caption, and the script that draws them. ``phases``: :func:`frame_phases`."""
    phases = phases or frame_phases(frames, None)
    elements = sorted({s for f in frames for s in f["symbols"]})
    colors = {e: element_color(e) for e in elements}
    legend = " ".join(f"{_sw(c)}{html.escape(e)}" for e, c in colors.items())
    cells, data = [], []
    for k, (f, lab, ph) in enumerate(zip(frames, labels, phases["frames"])):
        xyz, stride = _xyz(f)
        data.append({"id": f"view3d-{k}", "xyz": xyz, "cell": f["cell"],
                     "phase": ph["labels"][::stride] if ph["labels"] is not None else None})
        thin = f" (every {stride}th atom)" if stride > 1 else ""
        note = "" if ph["labels"] is not None or phases["why"] else (
            f"<p id='view3d-{k}-note' class='missing' hidden>No phase colours for this frame, it stays coloured by "
            f"element: {html.escape(ph['why'] or '')}</p>")
        cells.append(f"<figure class='v3d'><div id='view3d-{k}' class='viewer3d' data-atoms='{len(f['symbols'])}'"
                     f" data-phase-labels='{'yes' if ph['labels'] is not None else 'no'}'></div>{note}"
                     f"<figcaption>{html.escape(lab)}: {len(f['symbols'])} atoms{thin}</figcaption></figure>")
    if phases["why"]:
        phase_ctl = (f"<label><input type='radio' name='view3d-colour' value='phase' disabled> identified phase</label>"
                     f" <span class='missing' id='view3d-phase-why'>not available: {html.escape(phases['why'])}</span>")
        phase_legend = ""
    else:
        phase_ctl = "<label><input type='radio' name='view3d-colour' value='phase'> identified phase</label>"
        phase_legend = f"<p class='src' id='view3d-legend-phase' hidden>phase: {_phase_legend(phases, frames)}</p>"
    script = _SCRIPT % json.dumps({"views": data, "colors": colors, "phase": {"colors": phases["colors"]}})
    return (f"<p class='src'>frames from <a href='{html.escape(source_link)}'><code>{html.escape(source_link.lstrip('./'))}"
            f"</code></a>; drag to rotate, scroll to zoom; viewer: 3Dmol.js {VIEWER_VERSION} (inlined)</p>"
            f"<form class='v3dctl' id='view3d-control' onsubmit='return false'>colour by: <label><input type='radio' "
            f"name='view3d-colour' value='element' checked> element</label> {phase_ctl}</form>"
            f"<p class='src' id='view3d-legend-element'>element: {legend}</p>{phase_legend}"
            f"<div class='views'>{''.join(cells)}</div>"
            + (f"<p class='v3dcap'>{caption}</p>" if caption else "")
            + f"<script>{script}</script>")
