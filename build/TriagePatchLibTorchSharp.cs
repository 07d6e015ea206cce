// Inline MSBuild task (compiled by RoslynCodeTaskFactory): see TorchSharpNativeFix.targets for why it exists.
using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class TriagePatchLibTorchSharp : Task
{
    [Required] public ITaskItem[] Libraries { get; set; }
    [Required] public string ShimSource { get; set; }
    [Required] public string ShimOutput { get; set; }

    public override bool Execute()
    {
        const string Needed = "GLIBCXX_3.4.32";
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return true;

        string[] candidates = {
          "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
          "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" };
        string libstdcxx = null;
        foreach (var c in candidates) { if (File.Exists(c)) { libstdcxx = c; break; } }
        if (libstdcxx == null) {
          Log.LogMessage(MessageImportance.Normal, "Triage: no libstdc++.so.6 found in the usual places; TorchSharp left as shipped.");
          return true;
        }
        var stdBytes = File.ReadAllBytes(libstdcxx);
        if (IndexOf(stdBytes, Encoding.ASCII.GetBytes(Needed + "\0")) >= 0) {
          Log.LogMessage(MessageImportance.Low, "Triage: " + libstdcxx + " provides " + Needed + "; no TorchSharp fix needed.");
          if (File.Exists(ShimOutput)) File.Delete(ShimOutput);
          return true;
        }

        foreach (var item in Libraries) {
          var path = item.ItemSpec;
          int changed = WeakenVersionNeed(path, Needed);
          if (changed < 0) { Log.LogError("Triage: " + path + " is not a 64-bit little-endian ELF file with a .gnu.version_r section."); return false; }
          Log.LogMessage(MessageImportance.High, "Triage: " + path + ": " + (changed > 0 ? "marked " + Needed + " weak" : "already patched"));
        }

        if (!File.Exists(ShimOutput) || File.GetLastWriteTimeUtc(ShimOutput) < File.GetLastWriteTimeUtc(ShimSource)) {
          string compiler = null;
          foreach (var c in new[] { "/usr/bin/gcc", "/usr/bin/cc", "/usr/local/bin/gcc" }) { if (File.Exists(c)) { compiler = c; break; } }
          if (compiler == null) {
            Log.LogError("Triage: libstdc++ on this host lacks " + Needed + " and no C compiler was found to build the TorchSharp shim. Install one: apt-get install -y gcc");
            return false;
          }
          var psi = new ProcessStartInfo(compiler, "-shared -fPIC -O2 -o \"" + ShimOutput + "\" \"" + ShimSource + "\"") {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
          using (var p = Process.Start(psi)) {
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) { Log.LogError("Triage: building the TorchSharp shim failed: " + err); return false; }
          }
          Log.LogMessage(MessageImportance.High, "Triage: built " + ShimOutput);
        }
        return true;
    }

      static int IndexOf(byte[] haystack, byte[] needle) {
        for (int i = 0; i + needle.Length <= haystack.Length; i++) {
          int j = 0;
          while (j < needle.Length && haystack[i + j] == needle[j]) j++;
          if (j == needle.Length) return i;
        }
        return -1;
      }

      // Returns the number of vernaux entries changed (0 when already weak), or -1 when the file is not as expected.
      static int WeakenVersionNeed(string path, string version) {
        var b = File.ReadAllBytes(path);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1) return -1;
        long shoff = BitConverter.ToInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A), shnum = BitConverter.ToUInt16(b, 0x3C);
        for (int s = 0; s < shnum; s++) {
          long sh = shoff + (long)s * shentsize;
          uint type = BitConverter.ToUInt32(b, (int)sh + 4);
          if (type != 0x6ffffffe) continue; // SHT_GNU_verneed
          long off = BitConverter.ToInt64(b, (int)sh + 24);
          int link = (int)BitConverter.ToUInt32(b, (int)sh + 40);
          int count = (int)BitConverter.ToUInt32(b, (int)sh + 44);
          long strOff = BitConverter.ToInt64(b, (int)(shoff + (long)link * shentsize) + 24);
          int changed = 0;
          long vn = off;
          for (int n = 0; n < count; n++) {
            int cnt = BitConverter.ToUInt16(b, (int)vn + 2);
            long aux = vn + BitConverter.ToUInt32(b, (int)vn + 8);
            for (int a = 0; a < cnt; a++) {
              int flagsAt = (int)aux + 4;
              long nameAt = strOff + BitConverter.ToUInt32(b, (int)aux + 8);
              int end = (int)nameAt; while (b[end] != 0) end++;
              string name = Encoding.ASCII.GetString(b, (int)nameAt, end - (int)nameAt);
              if (name == version) {
                ushort flags = BitConverter.ToUInt16(b, flagsAt);
                if ((flags & 0x2) == 0) { flags |= 0x2; b[flagsAt] = (byte)(flags & 0xff); b[flagsAt + 1] = (byte)(flags >> 8); changed++; }
              }
              aux += BitConverter.ToUInt32(b, (int)aux + 12);
            }
            vn += BitConverter.ToUInt32(b, (int)vn + 12);
          }
          if (changed > 0) {
            // Write beside and rename, so a hard link into the NuGet cache is never written through.
            var tmp = path + ".triage-tmp";
            File.WriteAllBytes(tmp, b);
            File.Delete(path);
            File.Move(tmp, path);
          }
          return changed;
        }
        return -1;
    }
}
