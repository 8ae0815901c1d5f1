# Plot a cxlms-bench run: gnuplot -e "in='build/bench/perf'; out='docs/performance'" tools/bench/plot.gp
# Reads in-int8.dat and in-fp16.dat (cxlms-bench --dat in), writes out-throughput.png
# and out-ratio.png.  Columns: k read fetch_int fetch_packed packed_copy t_int t_packed k/n
# read_interleaved pieces_int.
if (!exists("in")) in = 'build/bench/perf'
if (!exists("out")) out = 'docs/performance'
if (!exists("threads")) threads = 'one core'
set datafile missing '?'
set terminal pngcairo size 1100,560 font ",10"
set grid
set key below

set output out.'-throughput.png'
set multiplot layout 1,2 title "cxlms fetch throughput on the bytes read (GB/s, ".threads.", 512 MiB stores)"
set xlabel 'k (planes read)'
set ylabel 'GB/s'
set title 'INT8 store'
set xrange [0.5:8.5]
plot in.'-int8.dat' u 1:2 w lp t 'read-only pass, same bytes', \
     '' u 1:3 w lp t 'fetch out=INT', \
     '' u 1:10 w lp t 'fetch out=INT in 8 KiB pieces, read by a consumer', \
     '' u 1:4 w lp t 'fetch out=PACKED', \
     '' u 1:5 w lp t 'memcpy of a packed k-bit copy'
set title 'FP16 store'
set xrange [0.5:16.5]
plot in.'-fp16.dat' u 1:2 w lp t 'read-only pass, same bytes', \
     '' u 1:3 w lp t 'fetch out=INT (k >= 6)', \
     '' u 1:10 w lp t 'out=INT in pieces, read by a consumer', \
     '' u 1:4 w lp t 'fetch out=PACKED', \
     '' u 1:5 w lp t 'memcpy of a packed k-bit copy'
unset multiplot

set output out.'-ratio.png'
set multiplot layout 1,2 title "proportionality: time(k) / time(all planes) vs k / planes"
set ylabel 'time ratio'
set yrange [0:1.6]
set title 'INT8 store: t(k)/t(8)'
set xrange [0.5:8.5]
plot in.'-int8.dat' u 1:6 w lp t 'fetch out=INT', \
     '' u 1:7 w lp t 'fetch out=PACKED', \
     '' u 1:8 w l dt 2 lc rgb 'black' t 'k/8 (ideal)'
set title 'FP16 store: t(k)/t(16)'
set xrange [0.5:16.5]
plot in.'-fp16.dat' u 1:6 w lp t 'fetch out=INT', \
     '' u 1:7 w lp t 'fetch out=PACKED', \
     '' u 1:8 w l dt 2 lc rgb 'black' t 'k/16 (ideal)'
unset multiplot
