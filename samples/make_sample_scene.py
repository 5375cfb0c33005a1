# Builds Pictor's sample scene: a cube turning a quarter turn over frames 1-10 under a sun light, at a small default
# resolution so a newcomer's first job renders in seconds on a CPU.
#   blender -b --factory-startup --python samples/make_sample_scene.py -- samples/spinning-cube.blend
import math
import os
import sys

import bpy

output = os.path.abspath(sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else "spinning-cube.blend")
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 10
scene.render.resolution_x, scene.render.resolution_y = 320, 180
scene.render.resolution_percentage = 100
scene.render.engine = "CYCLES"
scene.cycles.samples = 16
# Some Blender builds (Debian's) have no OpenImageDenoise: a denoised scene would fail to render there.
scene.cycles.use_denoising = False

cube = bpy.data.objects["Cube"]
cube.rotation_euler = (0.0, 0.0, 0.0)
cube.keyframe_insert(data_path="rotation_euler", frame=1)
cube.rotation_euler = (0.0, 0.0, math.pi / 2)
cube.keyframe_insert(data_path="rotation_euler", frame=10)

material = bpy.data.materials.new("Pictor violet")
material.use_nodes = True
material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.49, 0.36, 1.0, 1.0)
cube.data.materials.clear()
cube.data.materials.append(material)

bpy.data.objects["Light"].data.type = "SUN"
bpy.data.objects["Light"].data.energy = 4.0
scene.world.use_nodes = True
scene.world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.02, 0.025, 0.04, 1.0)

bpy.ops.wm.save_as_mainfile(filepath=output, compress=True)
print(f"sample scene written to {output}")
