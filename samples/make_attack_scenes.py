# Builds the hostile scenes the sandbox tests render: each tries to read or write the worker's files, or to run
# its own Python. Test fixtures only; the worker's "own" files are made in OUTSIDE, the scenes in OUTSIDE/scenes.
#   blender -b --factory-startup --python samples/make_attack_scenes.py -- OUTSIDE
import os
import sys

import bpy

outside = os.path.abspath(sys.argv[sys.argv.index("--") + 1])
scenes = os.path.join(outside, "scenes")
os.makedirs(scenes, exist_ok=True)


def reset():
    bpy.ops.wm.read_factory_settings(use_empty=False)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 64, 36
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False
    return scene


def save(path):
    # Paths stay exactly as written: absolute ones absolute, `//../` ones relative to the scene.
    bpy.ops.wm.save_as_mainfile(filepath=path, relative_remap=False)


# The worker's own files: an image (pure red) and a .blend library.
reset()
secret = bpy.data.images.new("secret", 16, 16)
secret.pixels = [1.0, 0.0, 0.0, 1.0] * 256
secret.filepath_raw = os.path.join(outside, "secret.png")
secret.file_format = "PNG"
secret.save()
bpy.data.objects["Cube"].name = "Borrowed"
save(os.path.join(outside, "library.blend"))


def textured(image_path):
    reset()
    material = bpy.data.materials.new("stolen")
    material.use_nodes = True
    nodes = material.node_tree.nodes
    texture = nodes.new("ShaderNodeTexImage")
    texture.image = bpy.data.images.load(os.path.join(outside, "secret.png"), check_existing=False)
    texture.image.filepath = image_path
    material.node_tree.links.new(texture.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    cube = bpy.data.objects["Cube"]
    cube.data.materials.clear()
    cube.data.materials.append(material)


textured(os.path.join(outside, "secret.png"))
save(os.path.join(scenes, "absolute_read.blend"))
textured("//../secret.png")
save(os.path.join(scenes, "relative_read.blend"))


def writing(base_path):
    scene = reset()
    scene.use_nodes = True
    scene.render.use_compositing = True
    tree = scene.node_tree
    output = tree.nodes.new("CompositorNodeOutputFile")
    output.base_path = base_path
    tree.links.new(tree.nodes["Render Layers"].outputs["Image"], output.inputs[0])


writing(os.path.join(outside, "written_absolute") + os.sep)
save(os.path.join(scenes, "absolute_write.blend"))
writing("//../written_relative/")
save(os.path.join(scenes, "relative_write.blend"))

scene = reset()
with bpy.data.libraries.load(os.path.join(outside, "library.blend"), link=True) as (source, target):
    target.objects = ["Borrowed"]
for obj in target.objects:
    scene.collection.objects.link(obj)
save(os.path.join(scenes, "linked_library.blend"))

reset()
text = bpy.data.texts.new("autorun.py")
marker = os.path.join(outside, "AUTORAN")
text.write("import os\nfor d in (%r, os.environ.get('HOME', '/tmp')):\n    open(os.path.join(d, 'AUTORAN'), 'w').write('ran')\n" % outside)
text.use_module = True
save(os.path.join(scenes, "autorun.blend"))
