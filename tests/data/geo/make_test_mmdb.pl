#!/usr/bin/perl
# Writes test-city.mmdb next to this script: a tiny City-style MaxMind DB for
# the geo unit tests. Needs Debian's libmaxmind-db-writer-perl; the output is
# committed, so building and testing rotor do not need Perl.
#
#   perl tests/data/geo/make_test_mmdb.pl
use strict;
use warnings;
use File::Basename qw(dirname);
use MaxMind::DB::Writer::Tree;

my %types = (
    location => 'map',
    latitude => 'double',
    longitude => 'double',
    city => 'utf8_string',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version => 6,
    record_size => 24,
    database_type => 'rotor-test-city',
    languages => ['en'],
    description => { en => 'rotor unit test geo database' },
    map_key_type_callback => sub { $types{ $_[0] } },
    # Keep IPv4 at ::/96 only; the test addresses are documentation ranges.
    alias_ipv6_to_ipv4 => 0,
    remove_reserved_networks => 0,
);

my @networks = (
    # address           location (a city near a test region)          city
    ['198.51.100.0/24', { latitude => 50.11, longitude => 8.68 },    'Frankfurt'],
    ['203.0.113.0/25',  { latitude => 35.68, longitude => 139.69 },  'Tokyo'],
    ['2001:db8:100::/48', { latitude => 40.71, longitude => -74.01 }, 'New York'],
    ['2001:db8:200::/40', { latitude => 35.68, longitude => 139.69 }, 'Tokyo'],
);
for my $network (@networks) {
    my ($cidr, $location, $city) = @$network;
    $tree->insert_network($cidr, { location => $location, city => $city });
}
# In the database but without coordinates.
$tree->insert_network('192.0.2.0/24', { city => 'Nowhere' });

my $path = dirname(__FILE__) . '/test-city.mmdb';
open my $out, '>:raw', $path or die "cannot write $path: $!";
$tree->write_tree($out);
close $out or die "cannot write $path: $!";
print "wrote $path\n";
