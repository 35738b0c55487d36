// Browser side of workbench.ui.viewer.MoleculeViewer: an NGL stage that shows one periodic system
// and moves its atoms when a new float32 position buffer arrives.
//
// NGL itself is not imported from a URL: the first viewer on a page asks the Python side for the
// NGL bundle (read from an installed pip package) over the component's message channel and
// evaluates it with a tiny AMD `define` shim. Position updates only mark the structure dirty; the
// geometry is updated once per animation frame, so bursts of updates never pile up.

const GLOBAL_KEY = "__mdwb_molecule_viewer__"

function registry() {
  if (!globalThis[GLOBAL_KEY]) {
    // `viewers` holds live counters per viewer, read by tests and benchmarks
    globalThis[GLOBAL_KEY] = {NGL: null, loading: null, viewers: []}
  }
  return globalThis[GLOBAL_KEY]
}

// Evaluate an NGL build: a UMD `ngl.js` (define(["exports"], f)) or an AMD bundle whose exports
// include `NGL` (nglview's notebook extension, whose only external is @jupyter-widgets/base:
// it is given empty base classes, as the widget classes are never used here).
function evaluateNGL(source) {
  const stubs = new Proxy({}, {
    get(target, key) {
      if (!(key in target)) {
        target[key] = class {}
      }
      return target[key]
    },
  })
  let exported = null
  function define(deps, factory) {
    if (typeof deps === "function") {
      factory = deps
      deps = []
    }
    const exports = {}
    const value = factory(...deps.map((d) => (d === "exports" ? exports : stubs)))
    exported = value === undefined ? exports : value
  }
  define.amd = {}
  new Function("define", "exports", "module", source)(define, undefined, undefined)
  const NGL = exported && exported.NGL ? exported.NGL : exported
  if (!NGL || typeof NGL.Stage !== "function") {
    throw new Error("the NGL bundle did not export an NGL namespace")
  }
  return NGL
}

function loadNGL(model) {
  const reg = registry()
  if (reg.NGL) {
    return Promise.resolve(reg.NGL)
  }
  if (!reg.loading) {
    reg.loading = new Promise((resolve, reject) => {
      const handler = (msg) => {
        if (!msg || (msg.type !== "ngl-source" && msg.type !== "ngl-error")) {
          return
        }
        model.off("msg:custom", handler)
        if (msg.type === "ngl-error") {
          reg.loading = null
          reject(new Error(msg.message))
          return
        }
        try {
          reg.NGL = evaluateNGL(msg.source)
          resolve(reg.NGL)
        } catch (e) {
          reg.loading = null
          reject(e)
        }
      }
      model.on("msg:custom", handler)
      model.send_msg({type: "ngl-source-request"})
    })
  }
  return reg.loading
}

function asFloat32(value) {
  if (value == null) {
    return null
  }
  if (value instanceof Float32Array) {
    return value
  }
  let buffer = value
  let offset = 0
  let length = null
  if (ArrayBuffer.isView(value)) {
    buffer = value.buffer
    offset = value.byteOffset
    length = value.byteLength
  } else if (!(value instanceof ArrayBuffer)) {
    return null
  }
  length = length === null ? buffer.byteLength : length
  if (offset % 4 !== 0) {
    return new Float32Array(buffer.slice(offset, offset + length))
  }
  return new Float32Array(buffer, offset, Math.floor(length / 4))
}

function fixed(x, width) {
  const clamped = Math.min(Math.max(x, -999.999), 9999.999)
  return clamped.toFixed(3).padStart(width)
}

// A PDB text with one HETATM line per atom and CONECT records for the bonds; it only carries the
// topology: exact float32 coordinates are set with updatePosition afterwards.
function buildPDB(pos, species, names, bonds) {
  const n = species.length
  const lines = []
  const atomNames = names.map((s) => String(s).slice(0, 4).padEnd(4))
  const elements = names.map((s) => (/^[A-Za-z]{1,2}$/.test(s) ? s.toUpperCase() : "X").padStart(2))
  for (let i = 0; i < n; i++) {
    const s = species[i]
    lines.push("HETATM" + String((i + 1) % 100000).padStart(5) + " " + atomNames[s]
               + " MOL A   1    " + fixed(pos[3 * i], 8) + fixed(pos[3 * i + 1], 8)
               + fixed(pos[3 * i + 2], 8) + "  1.00  0.00          " + elements[s])
  }
  if (n <= 99999) {
    for (const [i, j] of bonds) {
      lines.push("CONECT" + String(i + 1).padStart(5) + String(j + 1).padStart(5))
    }
  } else if (bonds.length) {
    console.warn("MoleculeViewer: bonds are not drawn for more than 99,999 atoms")
  }
  lines.push("END")
  return lines.join("\n")
}

function hexToInt(color) {
  const s = String(color).trim().replace("#", "")
  const full = s.length === 3 ? s.split("").map((c) => c + c).join("") : s.slice(0, 6)
  const v = parseInt(full, 16)
  return Number.isNaN(v) ? 0x808080 : v
}

class Viewer {
  constructor(model, el) {
    this.model = model
    this.el = el
    this.NGL = null
    this.stage = null
    this.component = null
    this.schemeId = null
    this.building = false
    this.structureDirty = true
    this.styleDirty = false
    this.positionsDirty = false
    this.framePending = null
    this.disposed = false
    this.lastReport = 0
    this.reportTimer = null
    this.stats = {
      name: model.name, received: 0, applied: 0, builds: 0, restyles: 0, ready: false, error: null,
      nAtoms: 0, stage: null,
    }
    const reg = registry()
    reg.viewers = reg.viewers.filter((s) => !s.disposed)
    reg.viewers.push(this.stats)

    loadNGL(model).then((NGL) => this.init(NGL)).catch((e) => this.fail(e))
  }

  init(NGL) {
    if (this.disposed) {
      return
    }
    this.NGL = NGL
    this.stage = new NGL.Stage(this.el, {
      backgroundColor: this.model.background_color, tooltip: false, cameraType: "perspective",
    })
    this.stats.stage = this.stage
    this.resizeObserver = new ResizeObserver(() => this.resize())
    this.resizeObserver.observe(this.el)
    this.schedule()
  }

  fail(e) {
    this.stats.error = String(e && e.message ? e.message : e)
    console.error("MoleculeViewer:", e)
    const msg = document.createElement("div")
    msg.style.cssText = "padding: 1em; color: #a00; font-family: sans-serif;"
    msg.textContent = `Molecular viewer unavailable: ${this.stats.error}`
    this.el.replaceChildren(msg)
  }

  onPositions() {
    this.stats.received++
    this.positionsDirty = true
    this.reportReceived()
    this.schedule()
  }

  onStructure() {
    this.structureDirty = true
    this.schedule()
  }

  onStyle() {
    this.styleDirty = true
    this.schedule()
  }

  // Report the received count to Python a few times per second (not once per frame).
  reportReceived() {
    if (this.reportTimer !== null) {
      return
    }
    const wait = Math.max(0, 250 - (performance.now() - this.lastReport))
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null
      this.lastReport = performance.now()
      if (!this.disposed) {
        this.model.frames_received = this.stats.received
      }
    }, wait)
  }

  schedule() {
    if (this.framePending !== null || this.disposed || !this.stage) {
      return
    }
    this.framePending = requestAnimationFrame(() => {
      this.framePending = null
      this.flush()
    })
  }

  flush() {
    if (this.disposed || !this.stage || this.building) {
      return
    }
    if (this.structureDirty) {
      this.structureDirty = false
      this.styleDirty = false
      this.positionsDirty = false
      this.building = true
      this.build().catch((e) => this.fail(e)).finally(() => {
        this.building = false
        if (this.structureDirty || this.styleDirty || this.positionsDirty) {
          this.schedule()
        }
      })
      return
    }
    if (this.styleDirty) {
      this.styleDirty = false
      this.applyStyle()
    }
    if (this.positionsDirty) {
      this.positionsDirty = false
      this.applyPositions()
    }
  }

  positionsArray() {
    const pos = asFloat32(this.model.positions)
    const n = this.model.species.length
    if (!pos || pos.length !== 3 * n) {
      return null
    }
    return pos
  }

  async build() {
    const model = this.model
    const pos = this.positionsArray()
    this.stage.removeAllComponents()
    this.component = null
    this.boxComponent = null
    if (this.schemeId !== null) {
      this.NGL.ColormakerRegistry.removeScheme(this.schemeId)
      this.schemeId = null
    }
    this.stats.nAtoms = 0
    if (!pos || pos.length === 0) {
      this.stats.ready = true
      return
    }
    const species = Array.from(model.species)
    const pdb = buildPDB(pos, species, Array.from(model.species_names), model.bonds || [])
    const blob = new Blob([pdb], {type: "text/plain"})
    const component = await this.stage.loadFile(blob, {ext: "pdb", name: "system", inferBonds: "none"})
    if (this.disposed) {
      return
    }
    this.component = component
    this.species = species
    component.structure.updatePosition(pos)
    this.addRepresentations()
    if (this.stats.builds === 0) {
      // a slight tilt on first view, so the box reads as 3D
      this.stage.viewerControls.spin([0, 1, 0], -0.35)
      this.stage.viewerControls.spin([1, 0, 0], 0.25)
    }
    this.stage.autoView()
    this.stats.builds++
    this.stats.nAtoms = species.length
    this.stats.nBonds = component.structure.bondCount
    this.stats.ready = true
    this.stats.applied++
  }

  addRepresentations() {
    const NGL = this.NGL
    const model = this.model
    const component = this.component
    component.removeAllRepresentations()
    if (this.schemeId !== null) {
      NGL.ColormakerRegistry.removeScheme(this.schemeId)
    }
    const speciesColors = model.species.length ? Array.from(model.colors).map(hexToInt) : []
    const speciesOf = this.species
    const beadOf = this.beadsShown() && model.color_by_bead ? Array.from(model.beads) : null
    const beadColors = Array.from(model.bead_colors).map(hexToInt)
    this.schemeId = NGL.ColormakerRegistry.addScheme(function () {
      this.atomColor = beadOf
        ? (atom) => (beadOf[atom.index] >= 0 ? beadColors[beadOf[atom.index]] ?? 0x808080 : 0xb0b0b0)
        : (atom) => speciesColors[speciesOf[atom.index]] ?? 0x808080
    }, "mdwb-species")
    const radii = Array.from(model.radii)
    const spacefill = model.representation === "spacefill"
    const scale = spacefill ? 1.0 : model.ball_scale
    const aspectRatio = 2.0
    // NGL's ball+stick draws spheres of radius * aspectRatio and sticks of radius
    const perAtom = new Float32Array(speciesOf.length)
    for (let i = 0; i < speciesOf.length; i++) {
      const r = radii[speciesOf[i]] ?? 0.5
      perAtom[i] = spacefill ? r * scale : (r * scale) / aspectRatio
    }
    const common = {colorScheme: this.schemeId, radiusType: "data", radiusData: perAtom}
    if (spacefill) {
      component.addRepresentation("spacefill", common)
    } else {
      component.addRepresentation("ball+stick", {...common, aspectRatio, multipleBond: "off"})
    }
    this.drawBox()
    this.drawBeads()
  }

  beadsShown() {
    const beads = this.model.beads
    return Boolean(beads && beads.length && beads.length === this.model.species.length
                   && this.model.bead_weights.length === beads.length)
  }

  // Beads as translucent spheres at the weighted centres of their atoms (no periodic images:
  // a molecule's beads), redrawn whenever the atoms move or the assignment changes.
  drawBeads() {
    if (this.beadComponent) {
      this.stage.removeComponent(this.beadComponent)
      this.beadComponent = null
    }
    const pos = this.positionsArray()
    if (!this.beadsShown() || !pos) {
      return
    }
    const beads = Array.from(this.model.beads)
    const weights = Array.from(this.model.bead_weights)
    const nBeads = Math.max(...beads) + 1
    const centres = Array.from({length: nBeads}, () => [0, 0, 0, 0])
    for (let i = 0; i < beads.length; i++) {
      const b = beads[i]
      if (b < 0) {
        continue
      }
      const w = weights[i]
      centres[b][0] += w * pos[3 * i]
      centres[b][1] += w * pos[3 * i + 1]
      centres[b][2] += w * pos[3 * i + 2]
      centres[b][3] += w
    }
    const colors = Array.from(this.model.bead_colors)
    const shape = new this.NGL.Shape("beads")
    centres.forEach(([x, y, z, w], b) => {
      if (w > 0) {
        const c = hexToInt(colors[b % colors.length] ?? "#808080")
        const rgb = [((c >> 16) & 255) / 255, ((c >> 8) & 255) / 255, (c & 255) / 255]
        shape.addSphere([x / w, y / w, z / w], rgb, this.model.bead_radius, `bead ${b}`)
      }
    })
    this.beadComponent = this.stage.addComponentFromObject(shape)
    this.beadComponent.addRepresentation("buffer", {opacity: this.model.bead_opacity})
    this.stats.beads = centres.filter((c) => c[3] > 0).length
  }

  // The periodic box as 12 edges from the origin, drawn as screen-space lines 2 px wide (NGL's
  // own unit-cell representation ignores colour and size parameters).
  drawBox() {
    if (this.boxComponent) {
      this.stage.removeComponent(this.boxComponent)
      this.boxComponent = null
    }
    const box = this.model.box
    if (!this.model.show_box || !box || box.length !== 3) {
      return
    }
    const [a, b, c] = box
    const corners = [[0, 0, 0], [a, 0, 0], [0, b, 0], [0, 0, c], [a, b, 0], [a, 0, c], [0, b, c],
                     [a, b, c]]
    const edges = [[0, 1], [0, 2], [0, 3], [1, 4], [1, 5], [2, 4], [2, 6], [3, 5], [3, 6], [4, 7],
                   [5, 7], [6, 7]]
    const grey = [0.35, 0.35, 0.35]
    const shape = new this.NGL.Shape("box")
    for (const [i, j] of edges) {
      shape.addWideline(corners[i], corners[j], grey, 2, "box edge")
    }
    this.boxComponent = this.stage.addComponentFromObject(shape)
    this.boxComponent.addRepresentation("buffer")
  }

  applyStyle() {
    if (!this.component) {
      return
    }
    this.stage.setParameters({backgroundColor: this.model.background_color})
    this.addRepresentations()
    this.stats.restyles++
  }

  applyPositions() {
    const pos = this.positionsArray()
    if (!pos) {
      return  // positions and species disagree until the rest of the update arrives
    }
    if (!this.component || pos.length !== 3 * this.stats.nAtoms) {
      this.structureDirty = true
      this.schedule()
      return
    }
    this.component.structure.updatePosition(pos, false)
    this.component.updateRepresentations({position: true})
    if (this.beadComponent) {
      this.drawBeads()
    }
    this.stats.applied++
  }

  resize() {
    if (this.stage && !this.disposed) {
      this.stage.handleResize()
    }
  }

  dispose() {
    if (this.disposed) {
      return
    }
    this.disposed = true
    this.stats.disposed = true
    this.stats.stage = null
    if (this.framePending !== null) {
      cancelAnimationFrame(this.framePending)
    }
    if (this.reportTimer !== null) {
      clearTimeout(this.reportTimer)
    }
    if (this.resizeObserver) {
      this.resizeObserver.disconnect()
    }
    if (this.schemeId !== null && this.NGL) {
      this.NGL.ColormakerRegistry.removeScheme(this.schemeId)
    }
    if (this.stage) {
      this.stage.dispose()
      this.stage = null
    }
  }
}

export function render({model, el, view}) {
  // Bokeh may render a view again (e.g. when it moves in a layout): drop the previous stage
  if (view.__mdwbViewer) {
    view.__mdwbViewer.dispose()
  }
  const container = document.createElement("div")
  container.style.cssText = "width: 100%; height: 100%; position: relative; overflow: hidden;"
  el.replaceChildren(container)
  const viewer = new Viewer(model, container)
  view.__mdwbViewer = viewer
  model.on("positions", () => viewer.onPositions())
  model.on(["species", "species_names", "bonds"], () => viewer.onStructure())
  model.on(["colors", "radii", "representation", "ball_scale", "box", "show_box",
            "background_color", "beads", "bead_weights", "bead_colors", "bead_radius",
            "bead_opacity", "color_by_bead"],
           () => viewer.onStyle())
  model.on("after_layout", () => viewer.resize())
  model.on("resize", () => viewer.resize())
  model.on("remove", () => viewer.dispose())
}
