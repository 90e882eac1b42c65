using System.Globalization;
using System.Text;

namespace IommuLab.Tests.Robustness;

/// <summary>
/// DTS source as people write it, which <c>DtsWriter</c>'s canonical output never is: labels, phandle and path
/// references in cells, path strings from <c>&amp;label</c>, integer expressions, <c>/bits/</c> arrays, mixed
/// values, and amendments (<c>&amp;label { ... };</c>) that add, replace and delete properties. Every value stays
/// inside what dtc accepts, so any difference between dtc and us is a bug in one of them.
/// </summary>
internal static class DtsSourceGen
{
    private sealed record Node(string Name, string Label, List<Node> Children);

    /// <summary>One source for <paramref name="seed"/> (the property test reports the seed).</summary>
    public static string Generate(int seed)
    {
        var r = new Random(seed);
        var labels = new List<string>(); // references: "l3" or "{/n0@0}"
        var root = new Node("/", "", []);
        Grow(r, root, depth: 0, labels);
        var sb = new StringBuilder("/dts-v1/;\n\n");
        Write(r, sb, root, labels, indent: "");
        foreach (var _ in Enumerable.Range(0, labels.Count == 0 ? 0 : r.Next(0, 4)))
        {
            var target = labels[r.Next(labels.Count)];
            sb.Append('&').Append(target).Append(" {\n");
            for (var i = r.Next(0, 3); i > 0; i--)
            {
                // Same names as Write uses, so some amendments replace a property and some delete one.
                var name = $"p{r.Next(0, 5)}";
                if (r.Next(4) == 0)
                {
                    sb.Append("\t/delete-property/ ").Append(name).Append(";\n");
                }
                else
                {
                    sb.Append('\t').Append(name).Append(" = ").Append(Value(r, labels)).Append(";\n");
                }
            }

            sb.Append("};\n");
        }

        return sb.ToString();
    }

    private static void Grow(Random r, Node node, int depth, List<string> labels, string prefix = "")
    {
        if (depth == 3)
        {
            return;
        }

        for (var i = depth == 0 ? r.Next(1, 5) : r.Next(0, 3); i > 0; i--)
        {
            var label = r.Next(3) == 0 ? "" : $"l{labels.Count}";
            var child = new Node($"n{node.Children.Count}@{node.Children.Count:x}", label, []);
            var path = $"{(depth == 0 ? "" : prefix)}/{child.Name}";

            // A reference is a label or a path, "&l3" or "&{/n0@0/n1@1}", in cells, as a value and as an amendment target.
            labels.Add(label.Length > 0 && r.Next(4) != 0 ? label : $"{{{path}}}");
            node.Children.Add(child);
            Grow(r, child, depth + 1, labels, path);
        }
    }

    private static void Write(Random r, StringBuilder sb, Node node, List<string> labels, string indent)
    {
        sb.Append(indent);
        if (node.Label.Length > 0)
        {
            sb.Append(node.Label).Append(": ");
        }

        sb.Append(node.Name).Append(" {\n");
        var names = Enumerable.Range(0, 5).OrderBy(_ => r.Next()).Take(r.Next(0, 4));
        foreach (var n in names)
        {
            sb.Append(indent).Append("\tp").Append(n.ToString(CultureInfo.InvariantCulture));
            sb.Append(r.Next(6) == 0 ? ";\n" : $" = {Value(r, labels)};\n");
        }

        foreach (var c in node.Children)
        {
            Write(r, sb, c, labels, indent + "\t");
        }

        sb.Append(indent).Append("};\n");
    }

    private static string Value(Random r, List<string> labels)
    {
        var parts = new List<string>();
        for (var i = r.Next(1, 4); i > 0; i--)
        {
            parts.Add(r.Next(6) switch
            {
                0 => $"\"{Word(r)}\"",
                1 when labels.Count > 0 => $"&{labels[r.Next(labels.Count)]}",
                2 => "[" + string.Join(" ", Enumerable.Range(0, r.Next(0, 6)).Select(_ => r.Next(256).ToString("x2", CultureInfo.InvariantCulture))) + "]",
                3 => Bits(r),
                _ => "<" + string.Join(" ", Enumerable.Range(0, r.Next(0, 5)).Select(_ => Cell(r, labels))) + ">",
            });
        }

        return string.Join(", ", parts);
    }

    private static string Word(Random r) =>
        new([.. Enumerable.Range(0, r.Next(0, 8)).Select(_ => "abcdefghijklmnopqrstuvwxyz0123456789-_,."[r.Next(40)])]);

    /// <summary>/bits/ 8, 16 or 64 with literals in range (dtc refuses values wider than the element).</summary>
    private static string Bits(Random r)
    {
        var bits = new[] { 8, 16, 64 }[r.Next(3)];
        var max = bits == 64 ? long.MaxValue : (1L << bits) - 1;
        var values = Enumerable.Range(0, r.Next(1, 4)).Select(_ => "0x" + (r.NextInt64(0, max) & max).ToString("x", CultureInfo.InvariantCulture));
        return $"/bits/ {bits} <{string.Join(" ", values)}>";
    }

    private static string Cell(Random r, List<string> labels) => r.Next(8) switch
    {
        0 or 1 when labels.Count > 0 => $"&{labels[r.Next(labels.Count)]}",
        2 => $"'{"abcxyz"[r.Next(6)]}'",
        _ => r.Next(3) == 0 ? Literal(r, r.NextInt64(0, 1L << 32)) : Expr(r, 3).Text,
    };

    private static string Literal(Random r, long v) => r.Next(3) switch
    {
        0 => v.ToString(CultureInfo.InvariantCulture),
        1 when v < 8 * 8 * 8 * 8 * 8 * 8 => v == 0 ? "0" : "0" + Convert.ToString(v, 8),
        _ => "0x" + v.ToString("x", CultureInfo.InvariantCulture),
    };

    /// <summary>A parenthesised expression whose value stays in 0..0xffffffff, so it fits a cell in dtc and in us.</summary>
    private static (string Text, long Value) Expr(Random r, int depth)
    {
        if (depth == 0 || r.Next(3) == 0)
        {
            var v = r.NextInt64(0, 1 << 16);
            return (Literal(r, v), v);
        }

        var (a, av) = Expr(r, depth - 1);
        var (b, bv) = Expr(r, depth - 1);
        return r.Next(11) switch
        {
            0 when av + bv <= 0xffffffffL => ($"({a} + {b})", av + bv),
            1 when av >= bv => ($"({a} - {b})", av - bv),
            2 when av * bv <= 0xffffffffL => ($"({a} * {b})", av * bv),
            3 when av <= 0xffff => ($"({a} << {bv % 16})", av << (int)(bv % 16)),
            4 => ($"({a} >> {bv % 32})", av >> (int)(bv % 32)),
            5 => ($"({a} | {b})", av | bv),
            6 => ($"({a} & {b})", av & bv),
            7 => ($"({a} ^ {b})", av ^ bv),
            8 => ($"({a} < {b})", av < bv ? 1 : 0),
            9 => ($"(!{a})", av == 0 ? 1 : 0),
            10 => ($"({a} ? {b} : {av % 7})", av != 0 ? bv : av % 7),
            _ => ($"({a})", av),
        };
    }
}
